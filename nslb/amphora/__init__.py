"""Amphora drivers: how a load balancer snapshot becomes running data plane.

`noop` keeps everything in memory (fast test tiers); `namespace` runs HAProxy in a
network namespace on this host.
"""
