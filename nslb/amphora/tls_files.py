"""An amphora's TLS files: written next to haproxy.cfg, and rotated in the running haproxy
through its runtime API, without a reload.

Certificates, CA files and CRLs keep their path across rotations (nslb.render.tls names
them by slot, never by content), so a new certificate changes a file, not haproxy.cfg.
Such a change is handed to the running worker with `set ssl cert <path> <<` + `commit ssl
cert <path>` (`ca-file` and `crl-file` likewise): connections in flight keep their
handshake, new ones get the new certificate, and the worker's process stays the same.
The file on disk is rewritten too, so the next reload or start loads the same content.
A certificate list (crt-list) names which files a listener serves: a change there is a
change of configuration and goes through the checked reload.

One exception to the runtime path, found with HAProxy 2.6.12: a CA file or CRL committed
through the runtime API reaches a server line only through its certificate instance,
which a server has when it presents a client certificate (`crt`). The server lines of a
re-encrypting pool without `tls_container_ref` keep the CA and CRL they loaded at start,
although `commit ssl ca-file` answers Success!: their new CA or CRL takes the reload.

Files are written 0600, owned by haproxy's account: they hold private keys.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path, PurePosixPath

from nslb.amphora.runtime_api import ANY, RuntimeCommand
from nslb.model import tls

# The runtime API's name of each kind of file that can be replaced in place.
RUNTIME_KIND = {"cert": "cert", "ca": "ca-file", "crl": "crl-file"}
COMMITTED = "Success!"


class Committed(RuntimeCommand):
    """`commit ssl ...` worked when haproxy says Success! (its answer also names the
    path, so it cannot be matched exactly)."""

    def succeeded(self, answer: str) -> bool:
        return COMMITTED in answer


def of_bundle(files: dict[str, str]) -> dict[str, str]:
    """The TLS files among a bundle's files."""
    return {name: text for name, text in files.items() if tls.tls_file_kind(name)}


def changed(directory: Path, files: dict[str, str]) -> dict[str, str]:
    """The files whose content on disk differs (or that are not there yet)."""
    out = {}
    for name, text in files.items():
        try:
            if (directory / name).read_text() == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        out[name] = text
    return out


def write(directory: Path, files: dict[str, str], user: str | None) -> None:
    """Write `files` atomically, 0600 and owned by `user` (when nslb runs as root)."""
    owner = _owner(user)
    for name, text in files.items():
        path = directory / name
        _make_dirs(directory, path.parent, owner)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)


def prune(directory: Path, files: dict[str, str]) -> None:
    """Remove TLS files (and object directories) the bundle no longer names."""
    root = directory / tls.TLS_DIR
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*"), reverse=True):
        name = path.relative_to(directory).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(n.startswith(f"{name}/") for n in files):
                shutil.rmtree(path, ignore_errors=True)
        elif name not in files:
            path.unlink(missing_ok=True)


def rotation_commands(directory: Path, changes: dict[str, str]) -> list[RuntimeCommand] | None:
    """Runtime commands replacing the content of the changed files in the running haproxy,
    or None when one of them cannot be replaced in place (a certificate list, or the CA
    file or CRL of a pool whose servers present no client certificate)."""
    commands: list[RuntimeCommand] = []
    for name, text in sorted(changes.items()):
        kind = RUNTIME_KIND.get(tls.tls_file_kind(name) or "")
        if kind is None or not _reaches_servers(directory, name):
            return None
        path = directory / name
        # A payload ends at the first empty line: the PEM has none (nslb.render.tls._pem).
        commands += [RuntimeCommand(f"set ssl {kind} {path} <<\n{text.rstrip()}\n", ANY),
                     Committed(f"commit ssl {kind} {path}")]
    return commands


def _reaches_servers(directory: Path, name: str) -> bool:
    """Whether a runtime change of `name` reaches what uses it: always for a listener's
    files; a pool's CA file or CRL only when its servers have a client certificate (the
    file is on disk, written before this is asked: a certificate being added or removed
    changes haproxy.cfg, which reloads anyway)."""
    path = PurePosixPath(name)
    if path.name not in (f"{tls.MEMBERS_SLOT}{tls.CA}", f"{tls.MEMBERS_SLOT}{tls.CRL}"):
        return True
    return (directory / path.parent / f"{tls.CLIENT_SLOT}{tls.CERT}").is_file()


def abort_commands(directory: Path, changes: dict[str, str]) -> list[RuntimeCommand]:
    """Drop transactions a failed rotation may have left open."""
    return [RuntimeCommand(f"abort ssl {RUNTIME_KIND[kind]} {directory / name}", ANY)
            for name in sorted(changes)
            if (kind := tls.tls_file_kind(name) or "") in RUNTIME_KIND]


def _owner(user: str | None) -> tuple[int, int] | None:
    if user is None or os.geteuid() != 0:
        return None
    account = pwd.getpwnam(user)
    return account.pw_uid, account.pw_gid


def _make_dirs(top: Path, directory: Path, owner: tuple[int, int] | None) -> None:
    missing = []
    current = directory
    while current != top and not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)
        if owner is not None:
            os.chown(path, *owner)
