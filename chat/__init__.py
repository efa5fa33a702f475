"""Tsunagu (つなぐ): secure business chat for city halls."""
