"""When an amphora refuses a bundle as older than what it serves (amphora.base)."""

from __future__ import annotations

import pytest

from nslb.amphora.base import superseded

AMP = "a1"


@pytest.mark.parametrize(("generation", "digest", "confirmed", "refused"), [
    (5, "new", None, False),            # nothing served yet
    (5, "new", ("old", 4), False),      # newer
    (5, "new", ("old", 5), False),      # same generation (a pair's peers changed)
    (4, "same", ("same", 5), False),    # older number, same content: changes nothing
    (4, "old", ("new", 5), True),       # older and different: a stalled controller's
])
def test_superseded(generation: int, digest: str, confirmed: tuple[str, int] | None,
                    refused: bool) -> None:
    stale = superseded(AMP, generation, digest, confirmed)
    assert (stale is not None) is refused
    if stale is not None:
        assert confirmed is not None and stale.serving == confirmed[1]
        assert str(stale) == "amphora a1 serves generation 5, newer than 4"
