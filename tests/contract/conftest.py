"""Fixtures around a real `nslb serve` subprocess (see server.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.server import NSLB, NslbServer


@pytest.fixture
def nslb_server() -> Iterator[NslbServer]:
    """A running `nslb serve` on its own state dir; killed and removed afterwards."""
    if not NSLB.exists():
        pytest.skip(f"the nslb entry point is not installed at {NSLB}")
    state = Path(tempfile.mkdtemp(prefix="nslb-contract-"))
    server = NslbServer(state)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        # Shown by pytest only when the test failed.
        print(f"--- nslb serve log ({server.starts} starts) ---\n{server.log_tail(80)}")
        shutil.rmtree(state, ignore_errors=True)
