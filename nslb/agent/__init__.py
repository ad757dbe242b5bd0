"""`nslb agent`: the process on every host that carries amphorae for a controller on
another host. `state.py` (its files), `join.py` (the token and CSR exchange),
`api.py` (the versioned mTLS API around the namespace driver), `run.py` (the server
and certificate renewal)."""
