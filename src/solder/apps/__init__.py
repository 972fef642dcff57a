"""Connectors: each app declared once as values (auth, actions, triggers)."""
