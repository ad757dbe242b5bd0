"""Rulesets loaded inside a namespace (netns/nftables.py), through libnftables and through
the nft command it falls back to: the rules land in that namespace only, a refused ruleset
says why and leaves the loaded one as it was, and the library is not used when it would
get a descriptor number select() cannot take."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Iterator

import pytest

from nslb.fds import FD_SETSIZE
from nslb.netns import nftables
from tests.integration.lab import Lab

TABLE = "nslb_probe"


def _rules(port: int) -> str:
    return (f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"
            f"table inet {TABLE} {{\n  chain gate {{\n"
            f"    type filter hook input priority 0; policy accept;\n"
            f"    tcp dport {port} drop\n  }}\n}}\n")


def _listed(namespace: str | None) -> str:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    return subprocess.run([*prefix, "nft", "list", "ruleset"], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(params=["library", "process"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "process":
        monkeypatch.setattr(nftables, "_library", lambda: None)
    else:
        assert nftables._library() is not None, "libnftables.so.1 is not loadable here"
    yield str(request.param)


def test_rules_land_in_the_namespace_only_and_a_refusal_changes_nothing(
        lab: Lab, way: str) -> None:
    namespace = lab.namespace(f"nft{way[0]}")
    nftables.load(namespace, _rules(8080))
    assert "tcp dport 8080 drop" in _listed(namespace)
    assert TABLE not in _listed(None)

    nftables.load(namespace, _rules(9090))  # replaced in one transaction
    listed = _listed(namespace)
    assert "tcp dport 9090 drop" in listed and "8080" not in listed

    with pytest.raises(nftables.Refused, match="syntax error"):
        nftables.load(namespace, _rules(9091) + "table inet broken { chain c { bogus } }\n")
    listed = _listed(namespace)
    assert "tcp dport 9090 drop" in listed and "9091" not in listed


def test_a_namespace_that_does_not_exist_is_an_error(way: str) -> None:
    with pytest.raises(OSError):
        nftables.load("nt-none-such-namespace", _rules(1))


def test_with_every_low_descriptor_taken_the_nft_process_loads_the_rules(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nslb serve` of 1,000 LBs: were every number below FD_SETSIZE taken, libnftables
    would get a socket select() cannot take and glibc would abort the process."""
    namespace = lab.namespace("nftlow")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= FD_SETSIZE:
        pytest.skip(f"the hard descriptor limit here is {hard}: no number above 1023")
    room = 4 * FD_SETSIZE if hard == resource.RLIM_INFINITY else min(hard, 4 * FD_SETSIZE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, room), hard))
    processes: list[str] = []
    real = nftables._load_with_process
    monkeypatch.setattr(nftables, "_load_with_process",
                        lambda ns, rules: (processes.append(ns), real(ns, rules)))
    held = []
    try:
        while (fd := os.open("/dev/null", os.O_RDONLY)) < FD_SETSIZE:
            held.append(fd)
        held.append(fd)
        nftables.load(namespace, _rules(7070))
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert processes == [namespace]
    assert "tcp dport 7070 drop" in _listed(namespace)
    nftables.load(namespace, _rules(7071))  # numbers free again: the library, no process
    assert processes == [namespace]
    assert "tcp dport 7071 drop" in _listed(namespace)


def test_each_context_is_freed_after_its_commit(lab: Lab) -> None:
    """A context holds a netfilter socket: freed by the reaper FREE_AFTER its commit, so
    a thousand loads leave no descriptor behind."""
    namespace = lab.namespace("nftfree")
    nftables.load(namespace, _rules(1))  # the reaper thread exists from here on
    time.sleep(3 * nftables.FREE_AFTER)
    before = len(os.listdir("/proc/self/fd"))
    for port in range(2, 12):
        nftables.load(namespace, _rules(port))
    assert len(os.listdir("/proc/self/fd")) > before  # sockets of contexts not freed yet
    deadline = time.monotonic() + 5
    while len(os.listdir("/proc/self/fd")) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) == before
    assert "tcp dport 11 drop" in _listed(namespace)
