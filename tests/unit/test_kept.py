"""api/kept.py: a list answer is reused only under the same database version."""

from __future__ import annotations

from nslb.api.kept import Kept


def test_an_answer_is_kept_until_the_version_moves() -> None:
    kept, made = Kept(), []

    def produce() -> bytes:
        made.append(1)
        return f"answer {len(made)}".encode()

    assert kept.get("k", 7, produce) == b"answer 1"
    assert kept.get("k", 7, produce) == b"answer 1"  # same version: not read again
    assert kept.get("k", 8, produce) == b"answer 2"  # something was committed
    assert kept.get("other", 8, produce) == b"answer 3"  # another key reads by itself
    assert len(made) == 3


def test_without_a_version_nothing_is_kept() -> None:
    kept, made = Kept(), []
    for _ in range(3):
        kept.get("k", None, lambda: made.append(1) or b"x")
    assert len(made) == 3


def test_the_least_recently_used_answers_go_past_the_bound() -> None:
    kept = Kept(bound=2)
    for key in ("a", "b"):
        kept.get(key, 1, lambda key=key: key.encode())  # type: ignore[misc]
    kept.get("a", 1, lambda: b"again")  # a used: b is the oldest now
    kept.get("c", 1, lambda: b"c")
    assert kept.get("a", 1, lambda: b"read") == b"a"
    assert kept.get("b", 1, lambda: b"read") == b"read"
