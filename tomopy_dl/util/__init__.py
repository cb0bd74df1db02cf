"""Shared helpers: input validation and device selection."""
