"""Where routers run: in namespaces on this host (`NamespaceRouters`), or nowhere
(`NoopRouters`, with the noop amphora driver and in tests)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Protocol

from nslb import netns
from nslb.model import grammar
from nslb.model.bundle import NetworkPort
from nslb.model.router import RouterSpec
from nslb.netns.bridges import BridgeRegistry
from nslb.netns.router import RouterPlan, apply_router, delete_router, router_present
from nslb.render.nftables import render_nftables
from nslb.render.values import UnsafeValue

log = logging.getLogger(__name__)
CONFIRMED = "applied.json"
RULES = "nftables.conf"


class RouterError(Exception):
    """A router could not be built; the message says why (logged, never shown to users)."""


class RouterDriver(Protocol):
    def apply(self, spec: RouterSpec) -> None: ...
    def delete(self, router_id: str) -> None: ...
    def existing(self) -> set[str]: ...
    def converged(self, spec: RouterSpec) -> bool: ...


class NoopRouters:
    """Remembers what it was asked to build."""

    def __init__(self) -> None:
        self.applied: dict[str, RouterSpec] = {}
        self._lock = threading.Lock()

    def apply(self, spec: RouterSpec) -> None:
        render_checked(spec)
        with self._lock:
            self.applied[spec.router_id] = spec

    def delete(self, router_id: str) -> None:
        with self._lock:
            self.applied.pop(router_id, None)

    def existing(self) -> set[str]:
        with self._lock:
            return set(self.applied)

    def converged(self, spec: RouterSpec) -> bool:
        with self._lock:
            held = self.applied.get(spec.router_id)
        return held is not None and held.hash == spec.hash


def render_checked(spec: RouterSpec) -> str:
    try:
        return render_nftables(spec)
    except UnsafeValue as exc:
        raise RouterError(str(exc)) from None


class NamespaceRouters:
    """Routers in namespaces `nslbr-<id>` on this host.

    `<state-dir>/routers/<id>/` is created before the namespace and removed after it, so
    every router nslb may have left on the host (a crash at any line) is found again by
    existing(); another nslb with another state dir on the same host is never touched.
    `applied.json` is written only once the router took a spec.
    """

    def __init__(self, state_dir: Path, physnets: dict[str, str]) -> None:
        self.root = Path(state_dir) / "routers"
        self.physnets = physnets
        self.bridges = BridgeRegistry(Path(state_dir) / "bridges.json")

    def apply(self, spec: RouterSpec) -> None:
        rules = render_checked(spec)
        plan = RouterPlan(router_id=spec.router_id, external=self._plan(spec.external),
                          internal=self._plan(spec.internal), rules=rules)
        directory = self.root / spec.router_id
        directory.mkdir(parents=True, exist_ok=True)
        _write(directory / RULES, rules)
        try:
            apply_router(plan, self.bridges)
        except Exception as exc:  # netlink, nft, sysctl: all mean "not applied"
            raise RouterError(f"{type(exc).__name__}: {exc}") from exc
        _write(directory / CONFIRMED, json.dumps({"hash": spec.hash}))

    def delete(self, router_id: str) -> None:
        delete_router(router_id, self.bridges)
        shutil.rmtree(self.root / router_id, ignore_errors=True)

    def existing(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {p.name for p in self.root.iterdir()
                if p.is_dir() and grammar.UUID.fullmatch(p.name)}

    def converged(self, spec: RouterSpec) -> bool:
        """The router took this very spec and its namespace is still there (a deeper
        check costs as much as an apply; the periodic full apply repairs the rest)."""
        try:
            data = json.loads((self.root / spec.router_id / CONFIRMED).read_text())
        except (OSError, ValueError):
            return False
        return data.get("hash") == spec.hash and router_present(spec.router_id)

    def _plan(self, port: NetworkPort) -> netns.PortPlan:
        try:
            bridge = self.physnets[port.physical_network]
        except KeyError:
            raise RouterError(f"physical network {port.physical_network!r} of port "
                              f"{port.port_id} is not mapped to a bridge") from None
        return netns.PortPlan(port_id=port.port_id, bridge=bridge, mtu=port.mtu,
                              addresses=port.addresses, mac=port.mac,
                              vlan=port.segmentation_id, gateway=port.gateway)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
