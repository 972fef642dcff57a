"""Alembic migrations; run through ``solder.store.migrate``."""
