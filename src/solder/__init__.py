"""Solder: a self-hostable embedded integration platform."""

__version__ = "0.1.0.dev0"
