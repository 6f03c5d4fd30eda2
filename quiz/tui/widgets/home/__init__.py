"""Widgets of the home screen."""
