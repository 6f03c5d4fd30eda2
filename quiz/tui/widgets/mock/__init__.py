"""Widgets of a mock interview."""
