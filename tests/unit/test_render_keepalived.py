"""keepalived.conf of ACTIVE_STANDBY amphorae: golden files, each checked by `keepalived -t`,
and the guard that refuses values outside their grammar (keepalived parses as root)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from nslb.model.bundle import HostFacts
from nslb.render.keepalived import render_keepalived
from nslb.render.values import UnsafeValue
from tests.unit.golden import GOLDEN, assert_golden, tool
from tests.unit.render_cases import active_standby

GOLDEN_DIR = GOLDEN / "keepalived"
FACTS = HostFacts(host="h", state_dir="/var/lib/nslb", fd_limit=20000)
KEEPALIVED = tool("keepalived")


def _text(role: int) -> str:
    snap = active_standby()
    return render_keepalived(snap, snap.amphorae[role], FACTS)


@pytest.mark.parametrize(("role", "name"), [(0, "master"), (1, "backup")])
def test_render_matches_golden(role: int, name: str) -> None:
    assert_golden(_text(role), GOLDEN_DIR / f"active_standby_{name}.conf")


@pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed")
@pytest.mark.parametrize("name", ["master", "backup"])
def test_golden_file_is_valid_for_keepalived(name: str) -> None:
    """`keepalived -t` prints what it refuses and ends itself with SIGTERM either way. The
    interfaces exist only inside the amphora's namespace, so that warning is expected."""
    assert KEEPALIVED is not None
    golden = GOLDEN_DIR / f"active_standby_{name}.conf"
    result = subprocess.run([KEEPALIVED, "-t", "-f", str(golden)], capture_output=True,
                            text=True, timeout=30, check=False)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if "doesn't exist" not in line and "Non-existent interface" not in line]
    assert complaints == []


def test_the_pair_points_at_each_other() -> None:
    master, backup = _text(0), _text(1)
    assert "unicast_src_ip 10.250.0.11" in master and "        10.250.0.12\n" in master
    assert "unicast_src_ip 10.250.0.12" in backup and "        10.250.0.11\n" in backup
    assert "priority 100" in master and "priority 90" in backup
    for text in (master, backup):
        assert "nopreempt" in text and "\n    state " not in text
        assert "10.250.0.10/24 dev nsv9999999" in text


@pytest.mark.parametrize(("field", "value"), [
    ("vrrp_ip", "10.250.0.11%eth0"), ("vrrp_ip", "10.250.0.11\n}"), ("vrrp_id", 0),
    ("vrrp_id", 256), ("role", "MASTER\n"), ("vrrp_port_id", "x\ninterface lo"),
])
def test_values_outside_their_grammar_are_refused(field: str, value: object) -> None:
    snap = active_standby()
    master = dataclasses.replace(snap.amphorae[0], **{field: value})
    snap = dataclasses.replace(snap, amphorae=(master, snap.amphorae[1]))
    with pytest.raises((UnsafeValue, ValueError)):
        render_keepalived(snap, master, FACTS)


def test_an_amphora_without_a_peer_is_refused() -> None:
    snap = active_standby()
    alone = dataclasses.replace(snap, amphorae=snap.amphorae[:1])
    with pytest.raises(UnsafeValue, match="peer"):
        render_keepalived(alone, alone.amphorae[0], FACTS)


@pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed")
def test_a_pair_serving_udp_also_checks_its_nft_table(tmp_path: Path) -> None:
    """The UDP check runs as root (nft needs CAP_NET_ADMIN) and is tracked next to
    haproxy's, so a missing nft table or a dead UDP agent gives the VIP up."""
    assert KEEPALIVED is not None
    snap = active_standby()
    text = render_keepalived(snap, snap.amphorae[0], FACTS, udp=True)
    assert ('script "/var/lib/nslb/bin/nslb-udp-check /var/lib/nslb/amp/'
            f'{snap.amphorae[0].id}/udp-agent.pid"\n    user root') in text
    assert "        check_haproxy\n        check_udp\n" in text
    assert "check_udp" not in _text(0)
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    result = subprocess.run([KEEPALIVED, "-t", "-f", str(path)], capture_output=True,
                            text=True, timeout=30, check=False)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if "doesn't exist" not in line and "Non-existent interface" not in line]
    assert complaints == []
