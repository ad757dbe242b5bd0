"""Octavia v2: the load-balancer API in Octavia's paths, shapes, policies and messages."""
