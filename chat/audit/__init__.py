"""The audit log as every layer above the store writes to it (``record``)."""
