"""Floating IP routers: the reconciler that makes this host's routers match the database.

`spec.py` builds what each router should be from database rows (pure), `desired.py` reads
those rows, `routers.py` holds the data planes (namespace routers on this host, or none),
and `reconciler.py` runs the level-triggered loop in its own thread.
"""
