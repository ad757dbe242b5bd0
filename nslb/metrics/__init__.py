"""Prometheus metrics of nslb: the instruments (`registry.py`), the API middleware
(`http.py`), the per-load-balancer data-plane readings the health loop hands over
(`dataplane.py`), the object counts by status (`objects.py`) and the listener that serves
them (`server.py`)."""
