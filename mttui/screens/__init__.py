"""Screens and modals of the monitor."""
