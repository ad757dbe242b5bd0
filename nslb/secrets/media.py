"""Barbican's media types for payloads (barbican/plugin/util/mime_types.py and
translations.py): which types a payload may be stored as, with which encodings, and what
an `Accept` header may ask for when it is read back.

Stored payloads are the raw bytes: text/plain as its UTF-8 encoding, binary types after
their base64 transfer encoding is removed.
"""

from __future__ import annotations

import base64
import binascii

PLAIN_TEXT = ("text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8")
BINARY = ("application/octet-stream", "application/pkcs8")
SUPPORTED = PLAIN_TEXT + BINARY
INTERNAL = {"text/plain": "text/plain", "text/plain;charset=utf-8": "text/plain",
            "text/plain; charset=utf-8": "text/plain",
            "application/octet-stream": "application/octet-stream",
            "application/pkcs8": "application/pkcs8"}
# The transfer encodings a type may arrive in (None: none allowed).
ENCODINGS: dict[str, list[str] | None] = {
    "text/plain": None,
    "application/octet-stream": ["base64", "binary"],
    "application/pkcs8": ["base64", "binary"],
}


class NotAcceptable(Exception):
    """406: the payload cannot be given in the asked-for type."""


def normalize(media_type: str) -> str:
    """Barbican's normalize_content_type: lower-cased type, a utf-8 charset dropped; any
    other parameter leaves the value as it was (and so unsupported)."""
    parts = [p.strip() for p in media_type.split(";")]
    mime = parts[0].lower()
    if len(parts) > 1:
        charset = parts[1].lower()
        if "=" not in charset or charset.split("=")[1].strip() != "utf-8":
            return media_type
    return INTERNAL.get(mime, media_type)


def is_supported(media_type: str) -> bool:
    return normalize(media_type) in SUPPORTED


def encodings_of(media_type: str) -> list[str] | None:
    return ENCODINGS[INTERNAL[normalize(media_type)]]


def encoding_allowed(media_type: str, encoding: str | None) -> bool:
    if not is_supported(media_type):
        return False
    allowed = encodings_of(media_type)
    return encoding is None if allowed is None else encoding in allowed


def b64decode_lenient(text: str) -> bytes:
    """Python's non-strict base64 decoding, as Barbican uses: characters outside the
    alphabet (the line breaks of `base64 < file`) are skipped; bad padding fails."""
    return base64.b64decode(text)


def is_base64(text: str) -> bool:
    try:
        b64decode_lenient(text)
    except (binascii.Error, ValueError):
        return False
    return True


def to_stored(payload: str | bytes, media_type: str, encoding: str | None) -> bytes:
    """The raw bytes to keep for a payload given as `media_type` in `encoding`."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else payload
    if normalize(media_type) in PLAIN_TEXT or not encoding:
        return raw
    return b64decode_lenient(raw.decode("ascii", "ignore"))


def for_accept(stored: bytes, accept: str) -> tuple[bytes, str]:
    """The body and Content-Type that answer `accept` (already resolved from `*/*`):
    text/plain is the stored bytes if they are UTF-8, the binary types are the bytes."""
    media = normalize(accept)
    if media in PLAIN_TEXT:
        try:
            stored.decode("utf-8")
        except UnicodeDecodeError:
            raise NotAcceptable() from None
        return stored, "text/plain; charset=utf-8"
    if media in BINARY:
        return stored, media
    raise NotAcceptable()
