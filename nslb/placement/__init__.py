"""Where amphorae go: a filter scheduler over plain host states (no I/O here)."""
