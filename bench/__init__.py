"""Reproducible benchmarks of nslb: `make bench-quick` / `make bench`."""
