"""PBX webhook formats (docs/pbx.md): the registry, the common event model, and one module
per format. Importing the package registers every format; a new format is a new module
here, imported below."""

from __future__ import annotations

from chat.domain.pbx_formats import standard, twilio

__all__ = ["standard", "twilio"]
