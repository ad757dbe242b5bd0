"""Where events go: `--notify kafka://HOST:PORT[,HOST:PORT...]/TOPIC`, checked strictly
before anything starts (no credentials in the URL, Kafka's own grammar for topic names).
Pure; kept apart from the sink so settings can be checked without the Kafka client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Kafka's own rule for topic names.
TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


class BadNotifyUrl(ValueError):
    """--notify is not kafka://HOST:PORT[,HOST:PORT...]/TOPIC."""


@dataclass(frozen=True)
class Target:
    servers: tuple[str, ...]
    topic: str

    @property
    def bootstrap(self) -> str:
        return ",".join(self.servers)


def parse(url: str) -> Target:
    """kafka://HOST:PORT[,HOST:PORT...]/TOPIC -> the brokers and the topic."""
    if not url.isprintable() or any(c.isspace() for c in url):
        # urlsplit would silently drop tabs and newlines
        raise BadNotifyUrl(f"--notify: {url!r} holds whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme != "kafka" or parts.query or parts.fragment or "@" in parts.netloc:
        raise BadNotifyUrl(f"--notify must be kafka://HOST:PORT/TOPIC, got {url!r}")
    servers = []
    for server in parts.netloc.split(","):
        host, sep, port = server.rpartition(":")
        if not sep or not HOST.fullmatch(host) or not port.isdigit() or \
                not 0 < int(port) < 65536:
            raise BadNotifyUrl(f"--notify: {server!r} is not HOST:PORT")
        servers.append(f"{host}:{int(port)}")
    topic = parts.path.removeprefix("/")
    if not TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise BadNotifyUrl(f"--notify: {topic!r} is not a Kafka topic name")
    return Target(tuple(servers), topic)
