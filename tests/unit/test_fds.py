"""Long-lived descriptors above the select() range (nslb/fds.py)."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest

from nslb.fds import FD_SETSIZE, above_select_range, long_lived_socket


@pytest.fixture
def room() -> Iterator[None]:
    """A soft descriptor limit above FD_SETSIZE (`nslb serve` raises its own at start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= FD_SETSIZE:
        pytest.skip(f"the hard descriptor limit here is {hard}: no number above 1023")
    room = 4 * FD_SETSIZE if hard == resource.RLIM_INFINITY else min(hard, 4 * FD_SETSIZE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, room), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("room")
def test_a_descriptor_moves_up_and_its_low_number_is_free_again() -> None:
    low = os.open("/dev/null", os.O_RDONLY)
    high = above_select_range(low)
    try:
        assert high >= FD_SETSIZE
        assert not os.get_inheritable(high)
        assert os.read(high, 1) == b""  # the same open file, still readable
        with pytest.raises(OSError):
            os.fstat(low)  # the low number was closed
    finally:
        os.close(high)


def test_without_room_up_there_the_descriptor_stays_where_it_is() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_SETSIZE, hard))
    try:
        low = os.open("/dev/null", os.O_RDONLY)
        assert above_select_range(low) == low
        os.close(low)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("room")
def test_a_long_lived_socket_works_from_its_high_number() -> None:
    left, right = socket.socketpair()
    with left, right:
        sock = long_lived_socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with sock:
            assert sock.fileno() >= FD_SETSIZE
            assert (sock.family, sock.type) == (socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind("")  # an autobound abstract address: it is a working socket
            assert sock.getsockname()
