"""Golden files and the tool that must accept each one: what the render tests share.

A renderer's output is compared with its file under tests/golden (regenerate after an
intended change with NSLB_REGEN_GOLDEN=1 and review the diff like code), and the file is
handed to the program that will parse it in production, so a golden file can never hold
text the data plane refuses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent.parent / "golden"
REGEN = "NSLB_REGEN_GOLDEN"


def tool(name: str) -> str | None:
    """The program's path: on PATH, or in /usr/sbin (not on a non-root user's PATH)."""
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                  else None)


NFT = tool("nft")
# `nft -c` runs the whole transaction in the kernel and aborts it: it needs CAP_NET_ADMIN.
needs_nft = pytest.mark.skipif(NFT is None or os.geteuid() != 0,
                               reason="nft -c needs nftables and CAP_NET_ADMIN")


def assert_golden(text: str, path: Path) -> None:
    """`text` is what `path` holds (written first when NSLB_REGEN_GOLDEN is set)."""
    if os.environ.get(REGEN):
        path.write_text(text)
    assert path.exists(), f"missing {path}; run with {REGEN}=1"
    assert text == path.read_text()


def assert_nft_accepts(path: Path) -> None:
    """`nft -c -f path` accepts the file; nothing in the kernel changes."""
    assert NFT is not None
    result = subprocess.run([NFT, "-c", "-f", str(path)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
