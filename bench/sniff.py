"""Runs inside the client namespace: one line per ARP packet and per TCP SYN / SYN-ACK seen
on an interface, with its wall-clock time, until stdin closes (or gets a line):

    <time.time()> arp-request|arp-reply <sender IP> <target IP>
    <time.time()> syn|synack <source IP> <destination IP>

bench/timeline.py reads them to place a new LB's first ARP, SYN and SYN-ACK beside the
POST and the serve's log. A raw AF_PACKET socket (root), so no tcpdump is needed.

    python -m bench.sniff [INTERFACE]    (default: the namespace's one interface but lo)
"""

from __future__ import annotations

import selectors
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ARP, IPV4 = 0x0806, 0x0800
SYN, ACK = 0x02, 0x10


def describe(frame: bytes) -> str | None:
    """The line for one Ethernet frame, or None when it is neither ARP nor a SYN."""
    if len(frame) < 14:
        return None
    kind = struct.unpack("!H", frame[12:14])[0]
    if kind == ARP and len(frame) >= 42:
        op = struct.unpack("!H", frame[20:22])[0]
        sender, target = socket.inet_ntoa(frame[28:32]), socket.inet_ntoa(frame[38:42])
        return f"{'arp-request' if op == 1 else 'arp-reply'} {sender} {target}"
    if kind != IPV4 or len(frame) < 34 or frame[23] != socket.IPPROTO_TCP:
        return None
    header = (frame[14] & 0x0F) * 4
    if len(frame) < 14 + header + 14:
        return None
    flags = frame[14 + header + 13]
    if not flags & SYN:
        return None
    source, destination = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
    return f"{'synack' if flags & ACK else 'syn'} {source} {destination}"


def main() -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    names = [name for _, name in socket.if_nameindex() if name != "lo"]
    sock.bind((sys.argv[1] if len(sys.argv) > 1 else names[0], 0))
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is not sock:  # stdin: closed (or a line) means stop
                return
            line = describe(sock.recv(2048))
            if line:
                print(f"{time.time():.6f} {line}", flush=True)


if __name__ == "__main__":
    main()
