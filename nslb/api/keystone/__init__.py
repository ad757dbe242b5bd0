"""Keystone v3 compatible identity API, served under /identity."""
