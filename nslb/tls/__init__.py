"""TLS material: certificates read from the key manager, and what OpenSSL accepts."""
