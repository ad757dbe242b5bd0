"""`nslb doctor`'s checks over readings made up here: a healthy host finds nothing to fix,
and each broken reading gives its finding with why and fix and the right exit status."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from nslb.ops import doctor_checks, doctor_view, kernel_probe
from nslb.ops.doctor_checks import Finding
from nslb.ops.doctor_readings import (
    Account,
    Clock,
    FileFacts,
    Readings,
    StateDir,
    count_amphorae,
    pss_per_lb,
    read_state_dir,
    read_sysctl,
)
from nslb.ops.findings import ERROR, INFO, OK, WARNING, exit_status

HAPROXY_VV = """HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/
Feature list : -51DEGREES +ACCEPT4 +EPOLL +LINUX_SPLICE +NS +OPENSSL +PCRE2 +PCRE2_JIT +PROMEX
Built with OpenSSL version : OpenSSL 3.0.22 25 Aug 2026
Running on OpenSSL version : OpenSSL 3.0.19 27 Jan 2026
"""
KEEPALIVED = """Keepalived v2.2.7 (01/16,2022)
Config options:  NFTABLES LVS REGEX VRRP VRRP_AUTH JSON BFD
"""


def healthy(**changes: object) -> Readings:
    readings = Readings(
        haproxy_vv=HAPROXY_VV, keepalived_version=KEEPALIVED,
        nft_version="nftables v1.0.6 (Lester Gooch #5)",
        tools={"ip": True, "setpriv": True, "socat": True},
        kernel_release="6.1.0-18-amd64", kernel_config=None,
        link_kinds={"bridge_vlan_filtering": True, "vxlan": True, "vlan_8021q": True},
        ipvs=True,
        sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.rp_filter": "0",
                 "net.ipv4.conf.default.rp_filter": "2",
                 "net.bridge.bridge-nf-call-iptables": None,
                 "net.ipv4.neigh.default.gc_thresh3": "32768",
                 "net.ipv6.neigh.default.gc_thresh3": "32768",
                 "net.core.netdev_max_backlog": "4096"},
        physnet_bridges={"nslb-br0": []}, nofile=(1048576, 1048576),
        file_nr=(5000, 9223372036854775807), amphorae=40, mem_available_kb=8 * 2**20,
        pss_per_lb_mb=6.9, pss_source="test", clock=Clock(True, "adjtimex", 1000, "ok"),
        state_dir=StateDir(path="/var/lib/nslb", exists=True,
                           facts=FileFacts(True, 0o755, 0, True),
                           files={"nslb.db": FileFacts(True, 0o600, 0),
                                  "clouds.yaml": FileFacts(True, 0o600, 0),
                                  "fernet-keys": FileFacts(True, 0o700, 0, True)},
                           free_bytes=10 * 2**30),
        haproxy_account=Account("haproxy", True, 102, "/usr/sbin/nologin"))
    return dataclasses.replace(readings, **changes)  # type: ignore[arg-type]


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_a_healthy_host_has_nothing_to_fix() -> None:
    findings = doctor_checks.run(healthy())
    assert {f.severity for f in findings} == {OK}, [f for f in findings if f.severity != OK]
    assert exit_status(f.severity for f in findings) == 0
    assert "0 errors, 0 warnings (exit status 0)" in doctor_view.as_text(findings)


@pytest.mark.parametrize(("changes", "check", "severity", "fix"), [
    ({"haproxy_vv": None}, "haproxy", ERROR, "apt-get install haproxy"),
    ({"haproxy_vv": HAPROXY_VV.replace("2.6.12", "2.4.22")}, "haproxy", ERROR, "2.6"),
    ({"haproxy_vv": HAPROXY_VV.replace("+PCRE2 ", "-PCRE2 ")}, "haproxy.pcre2", WARNING,
     "apt-get install haproxy"),
    ({"haproxy_vv": HAPROXY_VV.replace("+PROMEX", "-PROMEX")}, "haproxy.promex", WARNING,
     "apt-get install haproxy"),
    ({"haproxy_vv": HAPROXY_VV.replace("+OPENSSL", "-OPENSSL")}, "haproxy.openssl", WARNING,
     "apt-get install haproxy"),
    ({"haproxy_vv": HAPROXY_VV.replace("Running on OpenSSL version : OpenSSL 3",
                                       "Running on OpenSSL version : OpenSSL 1")},
     "haproxy.openssl_abi", WARNING, "--reinstall"),
    ({"keepalived_version": None}, "keepalived", WARNING, "apt-get install keepalived"),
    ({"keepalived_version": "Keepalived v1.3.9\n"}, "keepalived", WARNING, "keepalived"),
    ({"keepalived_version": KEEPALIVED.replace(" VRRP ", " ")}, "keepalived", WARNING,
     "keepalived"),
    ({"nft_version": None}, "nft", WARNING, "apt-get install nftables"),
    ({"tools": {"ip": True, "setpriv": False, "socat": True}}, "tool.setpriv", ERROR,
     "util-linux"),
    ({"tools": {"ip": True, "setpriv": True, "socat": False}}, "tool.socat", WARNING,
     "apt-get install socat"),
    ({"link_kinds": {"bridge_vlan_filtering": False, "vxlan": True, "vlan_8021q": True}},
     "kernel.vlan_filtering", WARNING, "CONFIG_BRIDGE_VLAN_FILTERING=y"),
    ({"link_kinds": {"bridge_vlan_filtering": True, "vxlan": False, "vlan_8021q": True}},
     "kernel.vxlan", INFO, "modprobe vxlan"),
    ({"link_kinds": {"bridge_vlan_filtering": True, "vxlan": True, "vlan_8021q": False}},
     "kernel.8021q", INFO, "modprobe 8021q"),
    ({"ipvs": False}, "kernel.ipvs", INFO, "modprobe ip_vs"),
    ({"sysctls": {**healthy().sysctls, "net.ipv4.conf.all.rp_filter": "1"}},
     "sysctl.rp_filter", WARNING, "net.ipv4.conf.all.rp_filter=2"),
    ({"sysctls": {**healthy().sysctls, "net.bridge.bridge-nf-call-iptables": "1"}},
     "sysctl.bridge_nf", WARNING, "net.bridge.bridge-nf-call-iptables=0"),
    ({"sysctls": {**healthy().sysctls, "net.ipv4.neigh.default.gc_thresh3": "1024"}},
     "sysctl.neigh.ipv4", WARNING, "net.ipv4.neigh.default.gc_thresh3=32768"),
    ({"sysctls": {**healthy().sysctls, "net.ipv6.neigh.default.gc_thresh3": "1024"},
      "amphorae": 300}, "sysctl.neigh.ipv6", ERROR, "net.ipv6.neigh.default.gc_thresh3=32768"),
    ({"sysctls": {**healthy().sysctls, "net.core.netdev_max_backlog": "1000"}},
     "sysctl.netdev_max_backlog", WARNING, "net.core.netdev_max_backlog=4096"),
    ({"physnet_bridges": {"nslb-br0": ["192.0.2.1/24"]}}, "sysctl.ip_forward", WARNING,
     "net.ipv4.ip_forward=1"),
    ({"nofile": (1024, 1024)}, "limits.nofile", ERROR, "LimitNOFILE"),
    ({"file_nr": (95000, 100000)}, "limits.file_max", WARNING, "fs.file-max=400000"),
    ({"mem_available_kb": 50 * 1024}, "memory", ERROR, "free memory"),
    ({"mem_available_kb": 500 * 1024}, "memory", WARNING, "free memory"),
    ({"clock": Clock(False, "adjtimex", 16000000, "adjtimex state 5")}, "clock", WARNING,
     "chrony"),
    ({"haproxy_account": Account("haproxy", False)}, "haproxy_account", ERROR, "useradd"),
    ({"haproxy_account": Account("haproxy", True, 0, "/bin/sh")}, "haproxy_account", ERROR,
     "usermod -u"),
    ({"haproxy_account": Account("haproxy", True, 102, "/bin/bash")}, "haproxy_account",
     WARNING, "usermod -s /usr/sbin/nologin"),
])
def test_each_broken_reading_is_a_finding_with_why_and_fix(
        changes: dict[str, object], check: str, severity: str, fix: str) -> None:
    findings = doctor_checks.run(healthy(**changes))
    finding = by_check(findings)[check]
    assert finding.severity == severity, finding
    assert fix in finding.fix
    assert finding.why
    others = [f for f in findings if f.check != check and f.severity != OK]
    assert not others, others
    assert exit_status(f.severity for f in findings) == {ERROR: 2, WARNING: 1, INFO: 0}[severity]


def test_sysctl_fixes_set_the_value_now_and_for_the_next_boot() -> None:
    readings = healthy(sysctls={**healthy().sysctls, "net.ipv4.conf.default.rp_filter": "1"})
    fix = by_check(doctor_checks.run(readings))["sysctl.rp_filter"].fix
    assert fix.startswith("sysctl -w net.ipv4.conf.all.rp_filter=2 "
                          "net.ipv4.conf.default.rp_filter=2 && printf")
    assert ">> /etc/sysctl.d/90-nslb.conf" in fix


def test_state_dir_findings() -> None:
    loose = healthy().state_dir
    loose = dataclasses.replace(
        loose, facts=FileFacts(True, 0o777, 0, True),
        files={**loose.files, "nslb.db": FileFacts(True, 0o644, 0)},
        amphora_dirs=3, amphora_dirs_wrong=["a1"], free_bytes=10 * 2**20)
    found = by_check(doctor_checks.run(healthy(state_dir=loose)))
    assert found["state_dir"].severity == ERROR and "chmod 0755" in found["state_dir"].fix
    assert found["state_dir.nslb.db"].severity == ERROR
    assert found["state_dir.nslb.db"].fix == "chmod 0600 /var/lib/nslb/nslb.db"
    assert found["state_dir.amp"].severity == WARNING
    assert found["state_dir.disk"].severity == WARNING
    long = dataclasses.replace(healthy().state_dir, path="/" + "x" * 50)
    assert by_check(doctor_checks.run(healthy(state_dir=long)))["state_dir"].severity == ERROR
    missing = StateDir(path="/var/lib/nslb", exists=False, facts=FileFacts(False))
    assert by_check(doctor_checks.run(healthy(state_dir=missing)))["state_dir"].severity == INFO


def test_kernel_config_answers_when_the_probe_cannot_run() -> None:
    config = kernel_probe.parse_config("CONFIG_VXLAN=m\n# CONFIG_VLAN_8021Q is not set\n"
                                       "CONFIG_BRIDGE_VLAN_FILTERING=y\n")
    assert config["CONFIG_VXLAN"] == "m" and config["CONFIG_VLAN_8021Q"] == "n"
    unknown = dict.fromkeys(("bridge_vlan_filtering", "vxlan", "vlan_8021q"))
    found = by_check(doctor_checks.run(healthy(link_kinds=unknown, kernel_config=config)))
    assert found["kernel.vlan_filtering"].severity == OK
    assert found["kernel.vxlan"].severity == OK
    assert found["kernel.8021q"].severity == INFO
    blind = by_check(doctor_checks.run(healthy(link_kinds=unknown, kernel_config=None)))
    assert blind["kernel.probe"].fix == "run nslb doctor as root"


def test_json_has_status_exit_findings_and_readings() -> None:
    readings = healthy(ipvs=False, nft_version=None)
    findings = doctor_checks.run(readings)
    data = json.loads(doctor_view.as_json(findings, readings))
    assert data["status"] == "warning" and data["exit_status"] == 1
    assert {"check", "severity", "summary", "why", "fix"} <= set(data["findings"][0])
    assert data["readings"]["ipvs"] is False


# --- the readers that need no root ------------------------------------------------------


def test_read_sysctl(tmp_path: Path) -> None:
    (tmp_path / "net/bridge").mkdir(parents=True)
    (tmp_path / "net/bridge/bridge-nf-call-iptables").write_text("1\n")
    assert read_sysctl("net.bridge.bridge-nf-call-iptables", tmp_path) == "1"
    assert read_sysctl("net.ipv4.ip_forward", tmp_path) is None


def test_pss_comes_from_the_bench_or_the_measured_constant(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    results.write_text(json.dumps({"date": "2026-11-22", "figures": {"pss_mb_per_lb": 7.5}}))
    assert pss_per_lb(results) == (7.5, "make bench of 2026-11-22")
    value, source = pss_per_lb(tmp_path / "missing.json")
    assert value == 6.9 and "2026-11-22" in source


def test_amphora_namespaces_are_counted(tmp_path: Path) -> None:
    for name in ("nslb-11111111-1111-4111-8111-111111111111",
                 "nslbr-22222222-2222-4222-8222-222222222222", "other"):
        (tmp_path / name).touch()
    assert count_amphorae(str(tmp_path)) == 1


def test_state_dir_reading(tmp_path: Path) -> None:
    (tmp_path / "nslb.db").write_text("")
    (tmp_path / "nslb.db").chmod(0o644)
    (tmp_path / "amp" / "a1").mkdir(parents=True)
    state = read_state_dir(tmp_path, "nobody-such-account")
    assert state.files["nslb.db"].mode == 0o644
    assert state.amphora_dirs == 1 and state.amphora_dirs_wrong == ["a1"]
