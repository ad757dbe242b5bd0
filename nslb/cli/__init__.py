"""The `nslb` command."""
