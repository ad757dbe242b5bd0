"""Strict JSON decoding of request bodies, and how error messages repeat user values."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nslb.api import jsonbody
from nslb.api.faults import BadRequest
from nslb.api.http import UnsupportedMediaType, describe, is_json, shown


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("raw", [
    b'{"a": "\\ud800"}', b'{"a": "\\udfff x"}', b'{"a": "\xed\xa0\x80"}', b'{"\\u0000": 1}',
    b'["a\\u0000"]', b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e400", b"-1e400",
    str(2**63).encode(), str(-(2**63) - 1).encode(), b"9" * 5000, nested(33),
    nested(100_000), b"{", b"\xff", b'{"a": 1} x',
])
def test_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        jsonbody.loads(raw)


@pytest.mark.parametrize("raw", [
    b"", b"null", b'{"a": "\\u00e9\\ud83d\\ude00"}', "{\"a\": \"é😀\"}".encode(),
    str(2**63 - 1).encode(), str(-(2**63)).encode(), b"1e308", b"-0.5", b"true",
    nested(jsonbody.MAX_DEPTH), b'\xef\xbb\xbf{"bom": 1}',
])
def test_accepted(raw: bytes) -> None:
    expected = json.loads(raw.decode("utf-8-sig") or "null")
    assert jsonbody.loads(raw) == expected


def test_depth_counts_objects_and_lists() -> None:
    value: object = 1
    for i in range(jsonbody.MAX_DEPTH):
        value = {"k": value} if i % 2 else [value]
    jsonbody.check_value(value)
    with pytest.raises(BadRequest, match="nested deeper than 32"):
        jsonbody.check_value([value])


def test_check_text() -> None:
    jsonbody.check_text("plain é 😀")
    for bad in ("a\x00", "\ud800", "x\udc00y"):
        with pytest.raises(BadRequest):
            jsonbody.check_text(bad)


def test_shown_cuts_and_stays_encodable() -> None:
    assert shown("x" * 64) == "x" * 64
    assert shown("x" * 65) == "x" * 64 + "..."
    text = shown("\ud800" * 100)
    text.encode("utf-8")  # would raise for a lone surrogate
    assert text.startswith("\\ud800")
    assert shown(None) == "None"


class Named(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=10)


def validation_error(data: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Named.model_validate(data)
    return info.value


def test_describe_never_echoes_a_whole_value() -> None:
    message = describe(validation_error({"name": "\ud800" * 10_000}), "thing")
    message.encode("utf-8")
    assert len(message) < 500
    assert message.startswith("Invalid input for field/attribute name. Value: '")
    message = describe(validation_error({"name": "n", "k" * 10_000: 1}), "thing")
    assert message == f"Invalid input for field/attribute thing. Unknown attribute: {'k' * 64}..."


@pytest.mark.parametrize(("content_type", "json_type"), [
    ("application/json", True), ("application/json; charset=utf-8", True),
    ("APPLICATION/JSON ;charset=UTF-8", True), ("text/plain", False),
    ("application/x-www-form-urlencoded", False), ("application/jsonx", False), ("", False),
])
def test_is_json(content_type: str, json_type: bool) -> None:
    assert is_json(content_type) is json_type


def test_unsupported_media_type_shapes() -> None:
    exc = UnsupportedMediaType("text/" + "p" * 1000)
    assert exc.status == 415
    assert len(exc.message) < 100
    assert exc.keystone_body()["error"]["title"] == "Unsupported Media Type"
    assert exc.neutron_body()["NeutronError"]["type"] == "UnsupportedMediaType"
    assert exc.octavia_body()["faultcode"] == "Client"
