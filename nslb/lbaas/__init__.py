"""The load balancer's write-side rules, apart from any HTTP API.

Locks, validated builders, quotas, VIP plumbing, capacity. They raise the domain errors of
errors.py, which each API maps to its own fault shape; nothing here imports Starlette.
"""
