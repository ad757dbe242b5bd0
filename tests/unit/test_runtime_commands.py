"""runtime_api.commands: one line asked of many CLI sockets at once, from one thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.amphora import runtime_api


class Cli:
    """A unix socket that answers like haproxy's CLI: reads the line until the client
    shuts its writing side, answers `reply` (None: never answers), then closes."""

    def __init__(self, path: Path, reply: bytes | None) -> None:
        self.lines: list[bytes] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.reply = reply
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self.server:
            conn, _ = self.server.accept()
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                self.lines.append(data)
                if self.reply is None:
                    self.release.wait(5)
                    return
                conn.sendall(self.reply)


@pytest.fixture
def sockets(tmp_path: Path) -> Iterator[dict[str, Cli]]:
    clis = {"a": Cli(tmp_path / "a.sock", b"# pxname,svname\nA\n"),
            "b": Cli(tmp_path / "b.sock", b"x" * 200_000),  # more than one recv
            "mute": Cli(tmp_path / "mute.sock", None)}
    yield clis
    for cli in clis.values():
        cli.release.set()


def test_every_socket_is_asked_and_its_whole_answer_kept(tmp_path: Path,
                                                         sockets: dict[str, Cli]) -> None:
    paths = {name: tmp_path / f"{name}.sock" for name in ("a", "b", "mute")}
    paths["gone"] = tmp_path / "nobody-listens.sock"
    answers = runtime_api.commands(paths, "show stat", timeout=0.5)
    # the mute one timed out and nobody listens at "gone": no answer, no exception
    assert set(answers) == {"a", "b"}
    assert answers["a"] == "# pxname,svname\nA\n"
    assert answers["b"] == "x" * 200_000
    assert sockets["a"].lines == [b"show stat\n"] and sockets["b"].lines == [b"show stat\n"]
