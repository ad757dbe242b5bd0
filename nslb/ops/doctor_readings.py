"""Everything `nslb doctor` looks at, read from the host into one plain record.

The checks (doctor_checks.py) are pure functions of a Readings, so each can be tested with
readings made up in the test. Every reading that could not be taken is None, never a
guess: a check then says it could not tell. Sysctls under /proc/sys/net are read in the
network namespace doctor runs in, so `ip netns exec NS nslb doctor` checks that namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import pwd
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nslb.netns.namespaces import NETNS_DIR
from nslb.netns.sysctl import BACKLOG, NEIGH
from nslb.ops import kernel_probe

PROC_SYS = Path("/proc/sys")
AMPHORA_NAMESPACE = re.compile(r"nslb-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# PSS of one SINGLE LB's haproxy (master and worker), measured by `make bench` at 200 LBs on
# 2026-11-22 (README, Performance); used when bench/results/latest.json is not there.
MEASURED_PSS_MB = 6.9
BENCH_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json"
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
    *(f"net.{family}.neigh.default.{name}" for family in ("ipv4", "ipv6") for name in NEIGH),
    *(f"net.{name}" for name in BACKLOG),
    "fs.file-max",
    "fs.nr_open",
)
STATE_FILES = ("nslb.db", "clouds.yaml", "fernet-keys", "secret-keys", "amp")


@dataclass
class FileFacts:
    exists: bool
    mode: int | None = None     # permission bits
    uid: int | None = None
    is_dir: bool = False


@dataclass
class StateDir:
    path: str
    exists: bool
    facts: FileFacts
    files: dict[str, FileFacts] = field(default_factory=dict)
    # amphora directories not owned by the haproxy account or open to others
    amphora_dirs: int = 0
    amphora_dirs_wrong: list[str] = field(default_factory=list)
    free_bytes: int | None = None


@dataclass
class Account:
    name: str
    exists: bool
    uid: int | None = None
    shell: str | None = None


@dataclass
class Clock:
    synchronized: bool | None  # None: could not tell
    source: str                # "adjtimex", "chronyc", "timedatectl"
    max_error_us: int | None = None
    detail: str = ""


@dataclass
class Readings:
    haproxy_vv: str | None          # `haproxy -vv`; None when haproxy is missing
    keepalived_version: str | None
    nft_version: str | None
    tools: dict[str, bool]          # ip, setpriv, socat: found on PATH
    kernel_release: str
    kernel_config: dict[str, str] | None
    link_kinds: dict[str, bool | None]  # kernel_probe.probe()
    ipvs: bool
    sysctls: dict[str, str | None]
    physnet_bridges: dict[str, list[str]]  # bridge -> its addresses (missing bridges left out)
    nofile: tuple[int, int]          # this process's (soft, hard) RLIMIT_NOFILE
    file_nr: tuple[int, int] | None  # allocated file handles, fs.file-max
    amphorae: int                    # amphora namespaces on this host
    mem_available_kb: int | None
    pss_per_lb_mb: float
    pss_source: str
    clock: Clock
    state_dir: StateDir
    haproxy_account: Account
    root: bool = True


def read_host(state_dir: Path, bridges: list[str], haproxy: str = "/usr/sbin/haproxy",
              haproxy_user: str = "haproxy") -> Readings:
    pss, source = pss_per_lb()
    return Readings(
        haproxy_vv=_run([haproxy, "-vv"]),
        keepalived_version=_run(["keepalived", "--version"]),
        nft_version=_run(["nft", "--version"]),
        tools={name: shutil.which(name) is not None for name in ("ip", "setpriv", "socat")},
        kernel_release=platform.release(),
        kernel_config=kernel_probe.kernel_config(),
        link_kinds=kernel_probe.probe(),
        ipvs=kernel_probe.ipvs_present(),
        sysctls={name: read_sysctl(name) for name in SYSCTLS},
        physnet_bridges=_bridges(bridges),
        nofile=resource.getrlimit(resource.RLIMIT_NOFILE),
        file_nr=_file_nr(),
        amphorae=count_amphorae(),
        mem_available_kb=_mem_available(),
        pss_per_lb_mb=pss, pss_source=source,
        clock=read_clock(),
        state_dir=read_state_dir(state_dir, haproxy_user),
        haproxy_account=read_account(haproxy_user),
        root=os.geteuid() == 0,
    )


def read_sysctl(name: str, root: Path = PROC_SYS) -> str | None:
    """A sysctl by its dotted name, None when this kernel or namespace has none."""
    try:
        return root.joinpath(*name.split(".")).read_text().strip()
    except OSError:
        return None


def _run(cmd: list[str]) -> str | None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (result.stdout + result.stderr).strip() or None


def _bridges(names: list[str]) -> dict[str, list[str]]:
    """Each physnet bridge that exists, with the addresses the host has on it."""
    out: dict[str, list[str]] = {}
    for name in names:
        if not Path(f"/sys/class/net/{name}").exists():
            continue
        shown = _run(["ip", "-o", "addr", "show", "dev", name]) or ""
        out[name] = [fields[3] for line in shown.splitlines()
                     if len(fields := line.split()) > 3 and fields[2] in ("inet", "inet6")
                     and not fields[3].startswith("fe80:")]
    return out


def _file_nr() -> tuple[int, int] | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        allocated, _free, maximum = (PROC_SYS / "fs" / "file-nr").read_text().split()
        return int(allocated), int(maximum)
    return None


def count_amphorae(netns_dir: str = NETNS_DIR) -> int:
    try:
        return sum(1 for n in os.listdir(netns_dir) if AMPHORA_NAMESPACE.fullmatch(n))
    except FileNotFoundError:
        return 0


def _mem_available() -> int | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return None


def pss_per_lb(results: Path = BENCH_RESULTS) -> tuple[float, str]:
    """PSS of one LB in MB and where the figure comes from."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(results.read_text())
        value = float(data["figures"]["pss_mb_per_lb"])
        return value, f"make bench of {str(data.get('date', 'no date'))[:10]}"
    return MEASURED_PSS_MB, "make bench of 2026-11-22"


# --- clock ---------------------------------------------------------------------------------


class _Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> (x86_64 and aarch64 layout)."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long),
                ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
                ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long),
                ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long),
                ("tai", ctypes.c_int), ("padding", ctypes.c_int * 11)]


TIME_ERROR = 5
STA_UNSYNC = 0x0040


def read_clock() -> Clock:
    """The kernel's view (adjtimex, what chrony and systemd-timesyncd set), with chrony's
    own words when it is installed."""
    timex = _Timex()
    try:
        state = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return Clock(synchronized=None, source="adjtimex", detail="adjtimex is not available")
    synced = state != TIME_ERROR and not timex.status & STA_UNSYNC
    detail = f"adjtimex state {state}, status 0x{timex.status:x}"
    tracking = _run(["chronyc", "-n", "tracking"]) if shutil.which("chronyc") else None
    if tracking:
        detail += "; chronyc: " + " / ".join(line.strip() for line in tracking.splitlines()
                                             if line.startswith(("Reference", "System time",
                                                                 "Leap status")))
    return Clock(synchronized=synced, source="adjtimex", max_error_us=int(timex.maxerror),
                 detail=detail)


# --- the state dir and the haproxy account -------------------------------------------------


def _facts(path: Path) -> FileFacts:
    try:
        st = path.lstat()
    except OSError:
        return FileFacts(exists=False)
    return FileFacts(exists=True, mode=st.st_mode & 0o7777, uid=st.st_uid,
                     is_dir=path.is_dir())


def read_state_dir(path: Path, haproxy_user: str) -> StateDir:
    out = StateDir(path=str(path), exists=path.is_dir(), facts=_facts(path))
    if not out.exists:
        return out
    out.files = {name: _facts(path / name) for name in STATE_FILES}
    with contextlib.suppress(OSError):
        usage = shutil.disk_usage(path)
        out.free_bytes = usage.free
    try:
        haproxy_uid: int | None = pwd.getpwnam(haproxy_user).pw_uid
    except KeyError:
        haproxy_uid = None
    amp = path / "amp"
    with contextlib.suppress(OSError):
        for entry in amp.iterdir():
            facts = _facts(entry)
            if not facts.is_dir:
                continue
            out.amphora_dirs += 1
            if facts.uid != haproxy_uid or (facts.mode or 0) & 0o077:
                out.amphora_dirs_wrong.append(entry.name)
    return out


def read_account(name: str) -> Account:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return Account(name=name, exists=False)
    return Account(name=name, exists=True, uid=entry.pw_uid, shell=entry.pw_shell)
