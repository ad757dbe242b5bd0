"""The embedded key manager: sealed payloads, Barbican's policy, the load balancer's reads."""
