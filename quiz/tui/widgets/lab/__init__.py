"""Widgets of the practicals lab."""
