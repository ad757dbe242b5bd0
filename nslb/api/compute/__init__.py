"""A Nova-compatible subset at /compute/v2.1: the agent hosts as services and hypervisors,
host aggregates, availability zones and the amphora's compute flavors."""
