"""TCP connections of a namespace, counted by local address (sock_diag over netlink).

Why: an ACTIVE_STANDBY amphora on its way out must not give its VIP away while it still
serves a connection. After the VIP moves, the client's next segment of that connection
reaches the peer, which has no such socket and answers RST (the amphora itself can no
longer send from an address it lost). So the driver stops new connections first and
waits until the ones in flight are done; this module tells it how many are left.

The request is one NETLINK_SOCK_DIAG dump (what `ss` sends) on a socket opened inside the
namespace (namespaces.socket_in), filtered by state in the kernel; no process is spawned.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from nslb.netns.namespaces import socket_in

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_HEADER = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed inet_diag_sockid.
REQUEST = struct.Struct("=BBBxI48x")
# inet_diag_msg starts with family, state, timer, retrans, sport, dport, src[16]
MESSAGE_SRC = slice(8, 24)

# Linux TCP states whose connection may still carry something the client waits for: a
# handshake (SYN_RECV, and NEW_SYN_RECV for request sockets), a request or an answer not
# yet acknowledged (ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING). FIN_WAIT2 and
# TIME_WAIT are done: the client has acknowledged everything that was sent to it.
ESTABLISHED, SYN_RECV, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING, NEW_SYN_RECV = \
    1, 3, 4, 8, 9, 11, 12
IN_FLIGHT = (ESTABLISHED, SYN_RECV, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING, NEW_SYN_RECV)


def state_mask(states: tuple[int, ...]) -> int:
    mask = 0
    for state in states:
        mask |= 1 << state
    return mask


def request(family: int, seq: int = 1) -> bytes:
    """A dump request for the TCP sockets of `family` in the in-flight states."""
    body = REQUEST.pack(family, socket.IPPROTO_TCP, 0, state_mask(IN_FLIGHT))
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                             NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def local_addresses(data: bytes, family: int) -> tuple[list[bytes], bool]:
    """The local addresses of the sockets in one batch of replies, and whether the dump
    ended with it. OSError when the kernel answered with an error."""
    found: list[bytes] = []
    size = 4 if family == socket.AF_INET else 16
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size:
            break
        payload = data[offset + NLMSG_HEADER.size:offset + length]
        if kind == NLMSG_DONE:
            return found, True
        if kind == NLMSG_ERROR:
            code = struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else -1
            if code:
                raise OSError(-code, "sock_diag refused the dump")
            return found, True
        if kind == SOCK_DIAG_BY_FAMILY and len(payload) >= MESSAGE_SRC.stop:
            found.append(payload[MESSAGE_SRC][:size])
        offset += (length + 3) & ~3
    return found, False


def in_flight(namespace: str, addresses: tuple[str, ...]) -> int:
    """How many TCP connections to any of `addresses` in `namespace` are not done yet."""
    wanted = {ipaddress.ip_address(a) for a in addresses}
    count = 0
    for family in sorted({socket.AF_INET if a.version == 4 else socket.AF_INET6
                          for a in wanted}):
        packed = {a.packed for a in wanted
                  if (a.version == 4) == (family == socket.AF_INET)}
        with socket_in(namespace, socket.AF_NETLINK, socket.SOCK_RAW,
                       NETLINK_SOCK_DIAG) as sock:
            sock.settimeout(2.0)
            sock.sendall(request(family))
            done = False
            while not done:
                found, done = local_addresses(sock.recv(1 << 16), family)
                count += sum(1 for address in found if address in packed)
    return count
