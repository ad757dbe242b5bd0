"""Where one demo lives on this host: its state directory and the names of its namespaces
and interfaces.

The user's demo is the default site (tag `nslbdemo`: namespaces `nslbdemo-web1`...,
state in /run/nslb-demo). Another tag is another demo with its own names throughout, so
a test (or a second demo) never touches the user's: set NSLB_DEMO_TAG for `nslb demo` and
`nslb demo --clean` alike.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TAG = "nslbdemo"
TAG_ENV = "NSLB_DEMO_TAG"
TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
RUN = Path("/run")


class BadTag(ValueError):
    """NSLB_DEMO_TAG is not a short lower-case name."""


@dataclass(frozen=True)
class Site:
    tag: str = DEFAULT_TAG

    def __post_init__(self) -> None:
        if not TAG.match(self.tag):
            raise BadTag(f"the demo tag ({TAG_ENV}, --tag) must be 1-24 lower-case "
                         f"letters, digits or '-', not {self.tag[:32]!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Site:
        return cls(environ.get(TAG_ENV) or DEFAULT_TAG)

    @property
    def default(self) -> bool:
        return self.tag == DEFAULT_TAG

    @property
    def seed(self) -> str:
        """What the state directory and port ids derive from (as before tags existed)."""
        return "nslb-demo" if self.default else f"nslb-demo-{self.tag}"

    @property
    def state(self) -> Path:
        return RUN / self.seed

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def port_id(self, host: str) -> str:
        """Stable per host, so a second `nslb demo` finds the same interfaces."""
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.seed}-{host}"))
