"""Read-only netlink views of the host and of amphora namespaces, from one host socket.

A converged resync has to confirm that every port is still plumbed as planned. Through
pyroute2 that cost a forked helper per namespace socket and about 0.7 ms per request (it
runs an asyncio loop per call): 40 ms and more per amphora, which at 1,000 amphorae every
10 s is more than the host has. The kernel answers link and address dumps of *another*
namespace on a host socket when the request names that namespace's id in the host
(IFLA_TARGET_NETNSID, IFA_TARGET_NETNSID), and /proc/<pid>/net/{route,ipv6_route} shows
the routes of the namespace a process lives in. So this module reads only, decodes only
the attributes it needs, and never enters a namespace; pyroute2 stays the tool for every
change (nslb.netns.ports).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x2, 0x10, 0x300
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
RTM_NEWNSID, RTM_GETNSID = 88, 90

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_EXT_MASK, IFLA_LINK_NETNSID, IFLA_TARGET_NETNSID = 29, 37, 46
RTEXT_FILTER_SKIP_STATS = 8
IFA_ADDRESS, IFA_LOCAL, IFA_TARGET_NETNSID = 1, 2, 10
NETNSA_NSID, NETNSA_FD = 1, 3
IFF_UP = 0x1
NLA_TYPE_MASK = 0x3FFF

HEADER = struct.Struct("=LHHLL")      # nlmsghdr
IFINFO = struct.Struct("=BxHiII")     # ifinfomsg
IFADDR = struct.Struct("=BBBBI")      # ifaddrmsg
ATTR = struct.Struct("=HH")           # rtattr
RECV_BUFFER = 1 << 18
DUMP_RETRIES = 3


@dataclass(frozen=True)
class Link:
    """What a converged port is checked against; `peer_*` describe a veth's other end."""

    index: int
    name: str
    up: bool
    mtu: int
    mac: str
    master: int | None
    peer_index: int | None
    peer_netnsid: int | None


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    data = ATTR.pack(ATTR.size + len(payload), kind) + payload
    return data + b"\0" * (_align(len(data)) - len(data))


LINK_ATTRS = frozenset({IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER,
                        IFLA_LINK_NETNSID})
ADDRESS_ATTRS = frozenset({IFA_ADDRESS, IFA_LOCAL})


def _attrs(data: bytes, offset: int, wanted: frozenset[int] | None = None) -> dict[int, bytes]:
    """Attribute type -> payload (only the `wanted` types, if given)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + ATTR.size <= end:
        length, kind = ATTR.unpack_from(data, offset)
        if length < ATTR.size:
            break
        kind &= NLA_TYPE_MASK
        if wanted is None or kind in wanted:
            out[kind] = data[offset + ATTR.size:offset + length]
        offset += _align(length)
    return out


def _u32(raw: bytes | None) -> int | None:
    return None if raw is None or len(raw) < 4 else int(struct.unpack_from("=I", raw)[0])


def _s32(raw: bytes | None) -> int | None:
    return None if raw is None or len(raw) < 4 else int(struct.unpack_from("=i", raw)[0])


def decode_link(body: bytes) -> Link:
    """An RTM_NEWLINK body (after the netlink header) as a Link."""
    _family, _kind, index, flags, _change = IFINFO.unpack_from(body)
    attrs = _attrs(body, IFINFO.size, LINK_ATTRS)
    mac = attrs.get(IFLA_ADDRESS, b"")
    return Link(index=index, name=attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(),
                up=bool(flags & IFF_UP), mtu=_u32(attrs.get(IFLA_MTU)) or 0,
                mac=":".join(f"{b:02x}" for b in mac), master=_u32(attrs.get(IFLA_MASTER)),
                peer_index=_u32(attrs.get(IFLA_LINK)),
                peer_netnsid=_s32(attrs.get(IFLA_LINK_NETNSID)))


def decode_address(body: bytes) -> tuple[int, str] | None:
    """(interface index, "address/prefix") of an RTM_NEWADDR body; None for link-local
    addresses, which the kernel adds by itself and plumbing never manages."""
    family, prefix, _flags, _scope, index = IFADDR.unpack_from(body)
    attrs = _attrs(body, IFADDR.size, ADDRESS_ATTRS)
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6) or _link_local(raw):
        return None
    return index, f"{socket.inet_ntop(family, raw)}/{prefix}"


def _link_local(raw: bytes) -> bool:
    """169.254.0.0/16 or fe80::/10, from the packed address."""
    if len(raw) == 4:
        return raw[0] == 169 and raw[1] == 254
    return len(raw) == 16 and raw[0] == 0xFE and raw[1] & 0xC0 == 0x80


class Netlink:
    """One rtnetlink socket in the host namespace, safe to share between threads."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        # Strict checking is what makes the kernel honour the target namespace (and an
        # ifindex filter) in dump requests instead of silently dumping the host.
        self._sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        self._sock.bind((0, 0))
        self._buffer = bytearray(RECV_BUFFER)
        self._lock = threading.Lock()
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- queries ----------------------------------------------------------------------

    def link(self, name: str, nsid: int | None = None) -> Link | None:
        """The link called `name` in the host, or in the namespace with id `nsid`."""
        body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _attr(IFLA_IFNAME, name.encode() + b"\0")
        body += _attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS))
        if nsid is not None:
            body += _attr(IFLA_TARGET_NETNSID, struct.pack("=i", nsid))
        try:
            replies = self._request(RTM_GETLINK, NLM_F_REQUEST, body)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return next((decode_link(b) for kind, b in replies if kind == RTM_NEWLINK), None)

    def links(self, nsid: int | None = None) -> list[Link]:
        """Every link of the host, or of the namespace with id `nsid`."""
        body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS))
        if nsid is not None:
            body += _attr(IFLA_TARGET_NETNSID, struct.pack("=i", nsid))
        return [decode_link(b) for kind, b in self._dump(RTM_GETLINK, body)
                if kind == RTM_NEWLINK]

    def addresses(self, nsid: int | None = None) -> dict[int, set[str]]:
        """Interface index -> its addresses ("address/prefix", no link-local ones), IPv4
        and IPv6 in one dump."""
        out: dict[int, set[str]] = {}
        body = IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        if nsid is not None:
            body += _attr(IFA_TARGET_NETNSID, struct.pack("=i", nsid))
        for kind, raw in self._dump(RTM_GETADDR, body):
            found = decode_address(raw) if kind == RTM_NEWADDR else None
            if found is not None:
                out.setdefault(found[0], set()).add(found[1])
        return out

    def nsid(self, namespace_path: str | Path) -> int | None:
        """The id the host gave the namespace bound at `namespace_path` (the kernel assigns
        one when a veth end there is dumped from the host), or None."""
        try:
            fd = os.open(namespace_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            body = b"\0\0\0\0" + _attr(NETNSA_FD, struct.pack("=I", fd))  # rtgenmsg, padded
            replies = self._request(RTM_GETNSID, NLM_F_REQUEST, body)
        finally:
            os.close(fd)
        for kind, raw in replies:
            if kind == RTM_NEWNSID:
                value = _s32(_attrs(raw, 4).get(NETNSA_NSID))
                return value if value is not None and value >= 0 else None
        return None

    # --- transport --------------------------------------------------------------------

    def _dump(self, kind: int, body: bytes) -> list[tuple[int, bytes]]:
        for _ in range(DUMP_RETRIES):
            try:
                return self._request(kind, NLM_F_REQUEST | NLM_F_DUMP, body)
            except InterruptedError:
                continue  # the table changed during the dump: ask again
        return self._request(kind, NLM_F_REQUEST | NLM_F_DUMP, body)

    def _request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request; the (type, body) of every answer to it. Raises OSError with
        the kernel's errno, InterruptedError when a dump was interrupted."""
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            seq = self._seq
            self._sock.send(HEADER.pack(HEADER.size + len(body), kind, flags, seq, 0) + body)
            out: list[tuple[int, bytes]] = []
            interrupted = False
            while True:
                size = self._sock.recv_into(self._buffer)
                data = bytes(self._buffer[:size])
                offset = 0
                while offset + HEADER.size <= size:
                    length, mtype, mflags, mseq, _pid = HEADER.unpack_from(data, offset)
                    if length < HEADER.size:
                        raise OSError(errno.EPROTO, "malformed netlink message")
                    payload = data[offset + HEADER.size:offset + length]
                    offset += _align(length)
                    if mseq != seq:
                        continue  # an answer to an earlier request that gave up
                    interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                    if mtype == NLMSG_ERROR:
                        code = -int(struct.unpack_from("=i", payload)[0])
                        if code:
                            raise OSError(code, os.strerror(code))
                        return out
                    if mtype == NLMSG_DONE:
                        if interrupted:
                            raise InterruptedError("netlink dump interrupted")
                        return out
                    out.append((mtype, payload))
                    if not mflags & NLM_F_MULTI:
                        return out


# --- routes of a namespace, seen through a process that lives in it ---------------------


def routes_of(pid: int, proc: Path = Path("/proc"),
              families: tuple[int, ...] = (4, 6)) -> set[tuple[str, str, str]]:
    """(interface, destination cidr, gateway) of the gateway routes in the network
    namespace of process `pid` (main table; of the IP versions in `families`). Empty if
    the process is gone."""
    out: set[tuple[str, str, str]] = set()
    base = proc / str(pid) / "net"
    if 4 in families:
        with contextlib.suppress(OSError):
            for line in (base / "route").read_text().splitlines()[1:]:
                route = parse_ipv4_route(line)
                if route is not None:
                    out.add(route)
    if 6 in families:
        with contextlib.suppress(OSError):
            for line in (base / "ipv6_route").read_text().splitlines():
                route = parse_ipv6_route(line)
                if route is not None:
                    out.add(route)
    return out


def _ipv4(hex_native: str) -> str:
    return socket.inet_ntoa(struct.pack("=I", int(hex_native, 16)))


def parse_ipv4_route(line: str) -> tuple[str, str, str] | None:
    """A line of /proc/net/route (addresses in little-endian hex) with a gateway."""
    fields = line.split()
    if len(fields) < 8:
        return None
    try:
        gateway = _ipv4(fields[2])
        if gateway == "0.0.0.0":
            return None
        prefix = bin(int(fields[7], 16)).count("1")
        network = ipaddress.ip_network(f"{_ipv4(fields[1])}/{prefix}", strict=False)
    except ValueError:
        return None
    return fields[0], str(network), gateway


def parse_ipv6_route(line: str) -> tuple[str, str, str] | None:
    """A line of /proc/net/ipv6_route (dest, len, src, len, nexthop, ..., device) with a
    gateway."""
    fields = line.split()
    if len(fields) < 10:
        return None
    try:
        nexthop = ipaddress.IPv6Address(bytes.fromhex(fields[4]))
        if nexthop.is_unspecified:
            return None
        destination = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        network = ipaddress.ip_network(f"{destination}/{int(fields[1], 16)}", strict=False)
    except ValueError:
        return None
    return fields[9], str(network), str(nexthop)
