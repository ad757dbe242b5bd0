"""Nova's version grammar and negotiation (nslb/api/compute/microversion.py), as
nova's APIVersionRequest and microversion_parse.get_version read them."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from nslb.api.compute.microversion import MAX, MIN, NotAcceptable, Version, asked, negotiate, parse
from nslb.api.faults import BadRequest


@pytest.mark.parametrize(("text", "version"), [
    ("2.53", Version(2, 53)), ("2.0", Version(2, 0)), ("99999.1", Version(99999, 1))])
def test_parse(text: str, version: Version) -> None:
    assert parse(text) == version and str(version) == text


@pytest.mark.parametrize("text", ["2", "2.", ".5", "02.5", "2.05", "2.5.1", "a.b", " 2.5",
                                  "2.5 ", "0.5", "2.x", "latest", "1234567890.1", "2.\u0665"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(BadRequest, match="is of invalid format"):
        parse(text)


def test_versions_order_numerically() -> None:
    assert parse("2.9") < parse("2.53") < parse("2.100") < parse("3.0")


@pytest.mark.parametrize(("headers", "found"), [
    ({}, None),
    ({"OpenStack-API-Version": "compute 2.60"}, "2.60"),
    ({"OpenStack-API-Version": "Compute   latest "}, "latest"),
    ({"OpenStack-API-Version": "volume 3.1,compute 2.61"}, "2.61"),
    ({"OpenStack-API-Version": "volume 3.1"}, None),
    ({"OpenStack-API-Version": "volume 3.1", "X-OpenStack-Nova-API-Version": "2.58"}, "2.58"),
    ({"OpenStack-API-Version": "compute 2.70", "X-OpenStack-Nova-API-Version": "2.58"},
     "2.70"),
])
def test_asked(headers: dict[str, str], found: str | None) -> None:
    assert asked(Headers(headers)) == found


def test_negotiate_defaults_latest_and_range() -> None:
    assert negotiate(Headers({})) == MIN == Version(2, 53)
    assert negotiate(Headers({"X-OpenStack-Nova-API-Version": "latest"})) == MAX
    assert Version(2, 85) == MAX
    for edge in ("2.53", "2.85"):
        assert str(negotiate(Headers({"X-OpenStack-Nova-API-Version": edge}))) == edge
    for outside in ("2.52", "2.86", "1.99", "3.0"):
        with pytest.raises(NotAcceptable) as refused:
            negotiate(Headers({"X-OpenStack-Nova-API-Version": outside}))
        assert refused.value.status == 406
        assert refused.value.message == (f"Version {outside} is not supported by the API. "
                                         "Minimum is 2.53 and maximum is 2.85.")
