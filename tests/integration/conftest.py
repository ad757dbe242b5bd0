"""Fixtures for integration tests: a private bridge, backend and client namespaces, a driver,
the hosts of one API test, and the session's leak check.

Everything a test creates is named with a per-session prefix (or is an LB the test applied,
or is registered in lab.py) and is removed by the fixture even when the test fails; a
session finalizer then asserts that nothing named like that is left on the host. Addresses
(10.250.0.0/16, fd00:250::/64 and the ranges each module names) are used only inside
namespaces the tests created.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nslb.amphora.base import ConfigRejected
from nslb.amphora.namespace import NamespaceDriver
from nslb.model.bundle import Bundle
from nslb.model.resources import Amphora
from nslb.netns.names import host_ifname
from nslb.render.bundle import InconsistentSnapshot, build_bundle
from nslb.render.values import UnsafeValue
from tests.integration.api_env import per_test
from tests.integration.lab import (  # noqa: F401 - the names tests import from here
    CREATED_LBS,
    CREATED_LINKS,
    CREATED_PATHS,
    CREATED_PORTS,
    HAPROXY,
    HERE,
    PHYSNET,
    PREFIX,
    STARTED_PIDS,
    STATE_DIRS,
    Lab,
    _links_with_prefix,
    sh,
    wait_for,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this directory `integration` and skip it where it cannot run."""
    reason = None
    if os.geteuid() != 0:
        reason = "integration tests need root"
    elif not os.path.exists(HAPROXY):
        reason = "haproxy is not installed"
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def lab() -> Iterator[Lab]:
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.cleanup()


class TrackingDriver(NamespaceDriver):
    """The real driver, remembering what it was asked to build so fixtures can remove it.

    Tests hand it a snapshot of one LB: it renders the bundle of the LB's STANDALONE
    amphora (id = the LB's id, unless the snapshot names its amphorae) as the worker
    would, and applies that."""

    def apply(self, snapshot):  # type: ignore[no-untyped-def]
        if isinstance(snapshot, Bundle):
            return super().apply(snapshot)
        amphora = (snapshot.amphorae[0] if snapshot.amphorae
                   else Amphora(id=snapshot.lb.id, loadbalancer_id=snapshot.lb.id))
        try:
            bundle = build_bundle(snapshot, amphora, self.facts())
        except (UnsafeValue, InconsistentSnapshot) as exc:
            raise ConfigRejected(str(exc)) from None
        CREATED_LBS.add(amphora.id)
        CREATED_PORTS.update(a.port.id for a in snapshot.attachments())
        return super().apply(bundle)


@pytest.fixture
def driver(lab: Lab) -> Iterator[TrackingDriver]:
    state_dir = tempfile.mkdtemp(prefix=PREFIX, dir="/tmp")
    STATE_DIRS.append(state_dir)
    the_driver = TrackingDriver(Path(state_dir), {PHYSNET: lab.bridge})
    try:
        yield the_driver
    finally:
        for lb_id in the_driver.existing():
            the_driver.delete(lb_id)
        the_driver.close()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def hosts(env: Any) -> Iterator[Lab]:
    """Namespaces of one test on the bridge of its module's server; the test's LBs are
    deleted through the API after it. `env` is the module's own fixture: anything with the
    `api` (api_env.Api) and `lab` (the module lab) of a running server."""
    with per_test(env.api, env.lab) as lab:
        yield lab


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    leftovers = [n for n in sh("ip", "netns", "list", check=False).split()
                 if n.startswith(PREFIX) or n.removeprefix("nslb-") in CREATED_LBS]
    leftovers += _links_with_prefix(PREFIX)
    host_ends = {host_ifname(p) for p in CREATED_PORTS}
    leftovers += [n for n in _links_with_prefix("nsh") if n in host_ends]
    links = set(_links_with_prefix(""))
    leftovers += sorted(CREATED_LINKS & links)
    leftovers += sorted(p for p in CREATED_PATHS if os.path.lexists(p))
    for line in sh("ps", "-eo", "pid=,args=", check=False).splitlines():
        pid, _, args = line.strip().partition(" ")
        if any(d in args for d in STATE_DIRS) or (str(HERE) in args
                                                  and int(pid) in STARTED_PIDS):
            leftovers.append(line)
    assert not leftovers, f"integration tests left behind: {leftovers}"
