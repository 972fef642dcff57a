"""The ISV's dashboard: pages served at ``/`` that call the JSON API (ADR 0013)."""
