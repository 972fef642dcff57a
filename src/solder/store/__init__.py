"""Persistence: the schema, the engine factory, migrations and one module of queries per concept."""
