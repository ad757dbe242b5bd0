"""Fixtures around a real `nslb serve` subprocess (see server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.server import NSLB, NslbServer, running


@pytest.fixture
def nslb_server() -> Iterator[NslbServer]:
    """A running `nslb serve` on its own state dir; killed and removed afterwards."""
    if not NSLB.exists():
        pytest.skip(f"the nslb entry point is not installed at {NSLB}")
    with running(NslbServer, "nslb-contract-", tail=80) as server:
        yield server
