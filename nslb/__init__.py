"""nslb: Octavia v2 compatible load balancers as HAProxy inside Linux network namespaces."""

__version__ = "0.1.0"
