"""Access logs: the host's one reader of every amphora's haproxy log lines (collector),
what a line must look like to be kept (records), and where kept lines go (files, syslog)."""
