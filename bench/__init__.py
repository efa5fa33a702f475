"""Benchmarks: measurements run by hand, not tests (see each module's docstring)."""
