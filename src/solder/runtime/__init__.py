"""Wiring: the services one process shares, and the ways to run them (serve, worker)."""
