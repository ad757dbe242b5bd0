"""nftables rulesets loaded inside a network namespace through libnftables, the library
the `nft` command is built on, called in this process from the namespace thread (hopper).

Why not `nft -f -` under nsenter: an amphora's VIP gate is a small ruleset on every new
LB's path, and the process cost 17-20 ms at 1,000 LBs, of which 10-15 ms was the kernel's
wait when the netfilter socket closed (0.1 ms of CPU; by all appearances the close waits
for the kernel to finish destroying what the transaction replaced: the same close 20 ms
later takes 0.05 ms). In this process the parse and the commit take ~1 ms in the
namespace thread, and the context, which holds that socket, is freed FREE_AFTER later by
a thread of its own. Every call into the library holds one lock: nft_ctx_free releases
state the whole process shares (its interface cache), which a parse in another thread may
be reading. Where the library cannot be loaded (a host with an nft binary but another
libnftables soname), the `nft` process does the same job.

libnftables select()s on its socket, and glibc aborts the process when that descriptor's
number is FD_SETSIZE (1024) or more: with every number below taken, the library would kill
`nslb serve`. Long-lived descriptors stay above that range (nslb/fds.py), and the library
is used only while the lowest free number is well below it; otherwise the process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import subprocess
import threading
import time
from functools import cache

from nslb.netns.hopper import run_inside
from nslb.netns.namespaces import run_in

log = logging.getLogger(__name__)
NFT = "nft"
LIBRARY = "libnftables.so.1"
NFT_CTX_DEFAULT = 0
# The lowest free descriptor number must be below this for the library to be used: the
# margin covers descriptors other threads open before the library makes its socket.
LOW_FDS_NEEDED = 768
# A context is freed this long after its commit: by then the kernel has destroyed what
# the commit replaced, and closing its socket does not wait (13-23 ms at once, 0.05 ms
# after 20 ms, measured at 1,000 LBs).
FREE_AFTER = 0.1
_CALLS = threading.Lock()


class Refused(OSError):
    """nftables refused the ruleset (its message says why); nothing of it was loaded."""


def load(namespace: str, rules: str) -> None:
    """Load `rules` (an nft script, applied as one transaction) in the namespace; Refused
    when nftables refuses it, FileNotFoundError when there is no such namespace."""
    lib = _library()
    if lib is None or not _low_descriptors_free():
        _load_with_process(namespace, rules)
        return
    ctx, code, errors = run_inside(namespace, lambda: _run(lib, rules))
    _reaper(os.getpid()).put((time.monotonic(), lib, ctx))
    if code != 0:
        raise Refused(f"nft in {namespace} refused the rules: {errors.strip()[:500]}")


def _low_descriptors_free() -> bool:
    """The next descriptor this process opens gets a number well below FD_SETSIZE."""
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    return fd < LOW_FDS_NEEDED


def _run(lib: ctypes.CDLL, rules: str) -> tuple[int, int, str]:
    """(context, return code, error text) of one ruleset; runs in the namespace thread,
    where the context's netlink socket is made, so the rules land in that namespace."""
    with _CALLS:
        ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
        if not ctx:
            raise OSError("libnftables could not make a context")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        code = lib.nft_run_cmd_from_buffer(ctx, rules.encode())
        errors = lib.nft_ctx_get_error_buffer(ctx) or b""
    return ctx, code, errors.decode(errors="replace")


def _load_with_process(namespace: str, rules: str) -> None:
    """The same through the nft command (nsenter, not `ip netns exec`, which copies every
    mount of the host, one per namespace: 42 ms a call at 1,000 LBs against 17)."""
    result = subprocess.run([*run_in(namespace), NFT, "-f", "-"], input=rules,
                            capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise Refused(f"nft in {namespace} refused the rules: {result.stderr.strip()[:500]}")


@cache
def _library() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as exc:
        log.info("%s not loadable (%s): nftables rules go through the nft command",
                 LIBRARY, exc)
        return None
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_free.restype = None
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    return lib


@cache
def _reaper(pid: int) -> queue.SimpleQueue[tuple[float, ctypes.CDLL, int]]:
    """The queue of contexts to free (with the monotonic time of their commit), and the
    thread that frees each FREE_AFTER later (a context's socket closes in whatever
    namespace it was made in, from any thread); one per process `pid`, as a forked child
    has none of its parent's threads."""
    contexts: queue.SimpleQueue[tuple[float, ctypes.CDLL, int]] = queue.SimpleQueue()

    def free() -> None:
        while True:
            made, lib, ctx = contexts.get()
            time.sleep(max(0.0, made + FREE_AFTER - time.monotonic()))
            with _CALLS:
                lib.nft_ctx_free(ctx)

    threading.Thread(target=free, daemon=True, name="nslb-nft-free").start()
    return contexts
