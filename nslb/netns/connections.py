"""TCP connections a namespace's listeners accepted, counted by local address
(sock_diag over netlink).

Why: an amphora on its way out must not give its VIP away while it still serves a
connection. After the VIP moves, the client's next segment of that connection reaches
the peer (or the replacement), which has no such socket and answers RST (the amphora
itself can no longer send from an address it lost). So the driver stops new connections
first and waits until the ones in flight are done; this module tells it how many are left.

Only connections a listening socket accepted count: a STANDALONE amphora's haproxy also
talks to members and health-checks them *from* the VIP (it is the address on the member
subnet), and those connections, kept alive or opened every second, are haproxy's own
business: waiting for them made every delete wait the whole DRAIN_SECONDS. A socket is
an accepted one when its local address and port are those of a LISTEN socket of the
namespace (or its port is a wildcard listener's); outgoing connections use ephemeral
ports no listener holds.

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
MESSAGE_STATE = 1
MESSAGE_SPORT = slice(4, 6)  # network byte order
MESSAGE_SRC = slice(8, 24)

# Linux TCP states whose connection may still carry something the client waits for: a
# handshake (SYN_RECV, and NEW_SYN_RECV for request sockets), a request or an answer not
# yet acknowledged (ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING). FIN_WAIT2 and
# TIME_WAIT are done: the client has acknowledged everything that was sent to it.
ESTABLISHED, SYN_RECV, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV = \
    1, 3, 4, 8, 9, 10, 11, 12
IN_FLIGHT = (ESTABLISHED, SYN_RECV, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING, NEW_SYN_RECV)


def state_mask(states: tuple[int, ...]) -> int:
    mask = 0
    for state in states:
        mask |= 1 << state
    return mask


def request(family: int, seq: int = 1) -> bytes:
    """A dump request for the TCP sockets of `family` in the in-flight states, and the
    listening ones (which tell accepted connections from the amphora's own)."""
    body = REQUEST.pack(family, socket.IPPROTO_TCP, 0, state_mask((*IN_FLIGHT, LISTEN)))
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                             NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


Socket = tuple[int, bytes, int]  # state, local address (packed), local port


def local_sockets(data: bytes, family: int) -> tuple[list[Socket], bool]:
    """The state, local address and port of the sockets in one batch of replies, and
    whether the dump ended with it. OSError when the kernel answered with an error."""
    found: list[Socket] = []
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
            port = int.from_bytes(payload[MESSAGE_SPORT], "big")
            found.append((payload[MESSAGE_STATE], payload[MESSAGE_SRC][:size], port))
        offset += (length + 3) & ~3
    return found, False


def accepted(sockets: list[Socket], wanted: set[bytes], family: int) -> int:
    """How many in-flight sockets to a `wanted` address a listener of the namespace
    accepted (the listener bound to that address and port, or to the wildcard)."""
    wildcard = bytes(4 if family == socket.AF_INET else 16)
    listening = {(address, port) for state, address, port in sockets if state == LISTEN}
    return sum(1 for state, address, port in sockets
               if state != LISTEN and address in wanted
               and ((address, port) in listening or (wildcard, port) in listening))


def in_flight(namespace: str, addresses: tuple[str, ...]) -> int:
    """How many TCP connections to any of `addresses` that listeners of `namespace`
    accepted are not done yet."""
    wanted = {ipaddress.ip_address(a) for a in addresses}
    count = 0
    for family in sorted({socket.AF_INET if a.version == 4 else socket.AF_INET6
                          for a in wanted}):
        packed = {a.packed for a in wanted
                  if (a.version == 4) == (family == socket.AF_INET)}
        sockets: list[Socket] = []
        with socket_in(namespace, socket.AF_NETLINK, socket.SOCK_RAW,
                       NETLINK_SOCK_DIAG) as sock:
            sock.settimeout(2.0)
            sock.sendall(request(family))
            done = False
            while not done:
                found, done = local_sockets(sock.recv(1 << 16), family)
                sockets += found
        count += accepted(sockets, packed, family)
    return count
