"""The typed domain model: enums, resources, the status state machine and LB snapshots.

This room imports only the standard library; every other room speaks in these types.
"""
