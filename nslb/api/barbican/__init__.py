"""Barbican v1 subset at /key-manager."""
