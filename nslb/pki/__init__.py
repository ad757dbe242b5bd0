"""The controller's certificate authority for agents (mutual TLS between controller and
agents): the CA itself (`ca.py`), join tokens (`tokens.py`), the checks every connection's
peer certificate passes (`checks.py`), TLS contexts (`contexts.py`) and the connection
guard that applies those checks in uvicorn (`guard.py`)."""
