"""Signed heartbeats from amphorae on other hosts to the health manager (issue 10)."""
