"""The Neutron-compatible network registry under /networking: networks, subnets, ports,
floating IPs."""
