"""Notifications: Octavia's and nslb's own, written to an outbox in the transaction of the
change and published to Kafka by one thread."""
