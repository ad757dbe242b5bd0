"""The HTTP layer: Octavia v2 and a Neutron-compatible network registry, on Starlette."""
