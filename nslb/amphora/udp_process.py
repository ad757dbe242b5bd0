"""The UDP agent of one amphora as nslb sees it (nslb.amphora.udp_agent runs inside the
namespace): start it as a daemon that survives nslb, signal it, stop it, read its files,
and load or remove its nftables table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nslb
from nslb.amphora import udp_agent
from nslb.amphora.base import ListenerCounters
from nslb.netns.namespaces import run_in
from nslb.render.udp import delete_table

POLL = 0.02
MODULE = "nslb.amphora.udp_agent"


class UdpAgentProcess:
    def __init__(self, directory: Path, namespace: str) -> None:
        self.dir = directory
        self.namespace = namespace
        self.view = directory / udp_agent.VIEW
        self.pidfile = directory / udp_agent.PIDFILE
        self.statusfile = directory / udp_agent.STATUS
        self.countersfile = directory / udp_agent.COUNTERS

    def pid(self) -> int | None:
        """The running agent of this amphora, else None."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        if MODULE.encode() not in cmdline or str(self.dir).encode() not in cmdline:
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """`setsid -f` forks the agent into its own session, so it is nobody's child here
        and runs on when nslb stops (as haproxy and keepalived do)."""
        env = dict(os.environ)
        root = str(Path(nslb.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
        log = open(self.dir / "udp-agent.log", "ab")  # noqa: SIM115 (handed to the child)
        with log:
            result = subprocess.run(
                ["ip", "netns", "exec", self.namespace, "setsid", "-f", sys.executable,
                 "-m", MODULE, str(self.dir)], stdout=log, stderr=log, env=env, timeout=30,
                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"the UDP agent did not start ({result.returncode})")

    def reload(self) -> None:
        pid = self.pid()
        if pid is None:
            raise RuntimeError("the UDP agent is not running")
        os.kill(pid, signal.SIGHUP)

    def wait_for(self, digest: str, timeout: float = 10.0) -> bool:
        """Until the agent serves the view with this hash (it wrote its status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.loaded() == digest:
                return True
            time.sleep(POLL)
        return False

    def loaded(self) -> str | None:
        status = self.status()
        return str(status["hash"]) if "hash" in status else None

    def status(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.statusfile.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def counters(self) -> dict[str, ListenerCounters]:
        try:
            data = json.loads(self.countersfile.read_text())
            return {k: ListenerCounters(**v) for k, v in data.items()}
        except (OSError, ValueError, TypeError):
            return {}

    def stop(self, timeout: float = 3.0) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(POLL)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for path in (self.pidfile, self.statusfile, self.countersfile):
            path.unlink(missing_ok=True)

    def check_rules(self, text: str) -> str | None:
        """nft's complaint about the rules (checked in the namespace, nothing loaded)."""
        return self._nft(["-c", "-f", "-"], text)

    def remove_table(self) -> None:
        self._nft(["-f", "-"], delete_table())

    def _nft(self, args: list[str], text: str) -> str | None:
        result = subprocess.run([*run_in(self.namespace), udp_agent.NFT, *args],
                                input=text, capture_output=True, text=True, timeout=30,
                                check=False)
        return result.stderr.strip()[:500] or "nft failed" if result.returncode else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
