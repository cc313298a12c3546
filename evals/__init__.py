"""Offline evaluation and measurement of the assistant."""
