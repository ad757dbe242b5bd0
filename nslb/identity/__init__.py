"""The embedded identity service: a Keystone v3 compatible subset (passwords, Fernet
tokens, projects, users, roles) so nslb can be the one endpoint a clouds.yaml points at."""
