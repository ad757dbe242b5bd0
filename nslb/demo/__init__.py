"""`nslb demo`: a working load balancer on a fresh machine, built through the API."""
