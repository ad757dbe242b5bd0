"""Request bodies checked as Barbican's validators check them
(barbican/common/validators.py), with its messages:

    400 "Provided object does not match schema '<Schema>': <reason>. Invalid property:
         '<property>'"

Reasons follow jsonschema's wording; a user's value in them is cut to 64 characters, and
a payload is never repeated. Barbican strips surrounding whitespace from every string of
a body before validating it; so does this module. Bounds Barbican leaves open (ACL users,
a container's references) are closed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nslb.api.barbican.faults import BarbicanError, abort
from nslb.api.http import shown
from nslb.model.secrets import CONTAINER_TYPES, SECRET_TYPES, now
from nslb.secrets import media, refs

MAX_SECRET_BYTES = 20000  # Barbican's max_allowed_secret_in_bytes
MAX_REQUEST_BYTES = 25000  # Barbican's max_allowed_request_size_in_bytes
TOO_LARGE = "Provided information too large to process"
SMALLINT_MAX = 32767
MAX_ACL_USERS = 200
MAX_CONTAINER_REFS = 100
STRING, NULL, INTEGER, BOOLEAN, ARRAY, OBJECT = ("string", "null", "integer", "boolean",
                                                "array", "object")


@dataclass(frozen=True)
class Field:
    types: tuple[str, ...]
    max_length: int | None = None
    min_length: int | None = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False  # never repeat the value


def invalid(schema: str, reason: str, prop: str | None) -> BarbicanError:
    return abort(400, f"Provided object does not match schema '{schema}': {reason}. "
                      f"Invalid property: '{prop}'")


def _repr(value: Any) -> str:
    return shown(repr(value))


def _type_of(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return ARRAY
    if isinstance(value, dict):
        return OBJECT
    return "number"


def check_field(schema: str, name: str, value: Any, spec: Field) -> None:
    shown_value = f"The {name}" if spec.secret else _repr(value)
    if _type_of(value) not in spec.types:
        kinds = ", ".join(f"'{t}'" for t in spec.types)
        raise invalid(schema, f"{shown_value} is not of type {kinds}", name)
    if isinstance(value, str | list):
        if spec.max_length is not None and len(value) > spec.max_length:
            raise invalid(schema, f"{shown_value} is too long", name)
        if spec.min_length is not None and len(value) < spec.min_length:
            raise invalid(schema, f"{shown_value} is too short", name)
    if spec.enum is not None and value not in spec.enum:
        raise invalid(schema, f"{shown_value} is not one of {list(spec.enum)}", name)
    if isinstance(value, int) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise invalid(schema, f"{value} is less than the minimum of {spec.minimum}", name)
        if spec.maximum is not None and value > spec.maximum:
            raise invalid(schema, f"{value} is greater than the maximum of {spec.maximum}",
                          name)


def check_object(schema: str, data: Any, fields: dict[str, Field],
                 required: tuple[str, ...] = (), closed: bool = False) -> dict[str, Any]:
    if not isinstance(data, dict):  # never repeated: a whole body may hold a payload
        raise invalid(schema, f"The {_type_of(data)} given is not of type 'object'", None)
    for name in required:
        if name not in data:
            raise invalid(schema, f"'{name}' is a required property", None)
    if closed:
        extra = [k for k in data if k not in fields]
        if extra:
            raise invalid(schema, "Additional properties are not allowed "
                                  f"({_repr(extra[0])} was unexpected)", None)
    for name, spec in fields.items():
        if name in data:
            check_field(schema, name, data[name], spec)
    return data


def stripped(value: Any) -> Any:
    """Barbican's strip_whitespace, iteratively over the decoded body."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [stripped(v) for v in value]
    if isinstance(value, dict):
        return {k: stripped(v) for k, v in value.items()}
    return value


# --- secrets --------------------------------------------------------------------------------

SECRET_FIELDS = {
    "name": Field((STRING, NULL), max_length=255),
    "algorithm": Field((STRING,), max_length=255),
    "mode": Field((STRING,), max_length=255),
    "bit_length": Field((INTEGER,), minimum=1, maximum=SMALLINT_MAX),
    "expiration": Field((STRING,), max_length=255),
    "payload": Field((STRING,), secret=True),
    "secret_type": Field((STRING,), max_length=80, enum=SECRET_TYPES),
    "payload_content_type": Field((STRING, NULL), max_length=255),
    "payload_content_encoding": Field((STRING,), max_length=255, enum=("base64",)),
    "transport_key_needed": Field((STRING,), enum=("true", "false")),
    "transport_key_id": Field((STRING,), max_length=255),
}


@dataclass(frozen=True)
class NewSecret:
    name: str | None
    secret_type: str
    algorithm: str | None
    bit_length: int | None
    mode: str | None
    expiration: datetime | None
    content_type: str | None  # normalised, when a payload is given
    raw: bytes | None  # the payload's bytes, when given


def parse_time(text: str) -> datetime:
    """ISO 8601 to naive UTC (oslo's parse_isotime + normalize_time); ValueError."""
    when = datetime.fromisoformat(text.replace("z", "Z"))
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def new_secret(data: Any) -> NewSecret:
    schema = "Secret"
    data = check_object(schema, stripped(data), SECRET_FIELDS)
    expiration = None
    raw_exp = data.get("expiration")
    if raw_exp:
        try:
            expiration = parse_time(raw_exp)
        except ValueError:
            raise invalid(schema, "Invalid date for 'expiration'", "expiration") from None
        if expiration <= now():
            raise invalid(schema, "'expiration' is before current time", "expiration")
    content_type = data.get("payload_content_type")
    raw = None
    if "payload" in data:
        raw = _payload(schema, data["payload"], content_type,
                       data.get("payload_content_encoding"))
        assert content_type is not None
        content_type = media.INTERNAL[media.normalize(content_type)]
    elif "payload_content_type" in data:
        raise invalid(schema, "payload must be provided when payload_content_type is "
                              "specified", "payload")
    name = data.get("name")
    return NewSecret(name=name if isinstance(name, str) else None,
                     secret_type=data.get("secret_type", "opaque"),
                     algorithm=data.get("algorithm"), bit_length=data.get("bit_length"),
                     mode=data.get("mode"), expiration=expiration,
                     content_type=content_type, raw=raw)


def _payload(schema: str, payload: str, content_type: str | None,
             encoding: str | None) -> bytes:
    if content_type is None:
        raise invalid(schema, "If 'payload' is supplied, 'payload_content_type' must also be "
                              "supplied.", "payload_content_type")
    if not media.is_supported(content_type):
        raise invalid(schema, f"payload_content_type is not one of {list(media.SUPPORTED)}",
                      "payload_content_type")
    if not media.encoding_allowed(content_type, encoding):
        raise invalid(schema, "payload_content_encoding is not one of "
                              f"{media.encodings_of(content_type)}", "payload_content_encoding")
    if len(payload.encode("utf-8")) > MAX_SECRET_BYTES:
        raise abort(413, TOO_LARGE)
    if not payload:
        raise invalid(schema, "If 'payload' specified, must be non empty", "payload")
    if encoding == "base64" and not media.is_base64(payload):
        raise invalid(schema, "Invalid payload for payload_content_encoding", "payload")
    return media.to_stored(payload, content_type, encoding)


# --- containers -----------------------------------------------------------------------------

CONTAINER_FIELDS = {
    "name": Field((STRING, NULL), max_length=255),
    "type": Field((STRING,), enum=CONTAINER_TYPES),
    "secret_refs": Field((ARRAY,), max_length=MAX_CONTAINER_REFS),
}
REF_FIELDS = {
    "name": Field((STRING, NULL), max_length=255),
    "secret_ref": Field((STRING,), min_length=1, max_length=refs.MAX_REF_CHARS),
}
TYPE_NAMES = {
    "certificate": ({"certificate"}, {"private_key", "private_key_passphrase", "intermediates"},
                    "only 'private_key', 'certificate' , 'private_key_passphrase',  or "
                    "'intermediates' reference names are allowed for Certificate type",
                    "The minimum required reference name is 'certificate' for Certificate "
                    "type"),
    "rsa": ({"public_key", "private_key"}, {"private_key_passphrase"},
            "only 'private_key', 'public_key' and 'private_key_passphrase' reference names "
            "are allowed for RSA type",
            "The minimum required reference names are 'public_key' and'private_key' for "
            "RSA type"),
}


@dataclass(frozen=True)
class NewContainer:
    name: str | None
    type: str
    members: list[tuple[str | None, str]]  # (name, secret id)


def secret_id_of(ref: str) -> str:
    """Barbican's _get_secret_id_from_ref: the last segment (before a trailing slash)."""
    if ref.endswith("/"):
        return ref.rsplit("/", 2)[1]
    return ref.rsplit("/", 1)[-1]


def new_container(data: Any, base: str) -> NewContainer:
    schema = "Container"
    data = check_object(schema, stripped(data), CONTAINER_FIELDS, required=("type",))
    given = data.get("secret_refs") or []
    for item in given:
        check_object(schema, item, REF_FIELDS, required=("secret_ref",))
    names = {item.get("name", "") for item in given}
    if len(names) != len(given):
        raise invalid(schema, "Duplicate reference names are not allowed", "secret_refs")
    ids = [secret_id_of(item["secret_ref"]) for item in given]
    if len(set(ids)) != len(given):
        raise invalid(schema, "Duplicate secret ids are not allowed", "secret_refs")
    if any(not item["secret_ref"].startswith(base) for item in given):
        raise abort(400, "Provided field value is not supported")
    if given and data["type"] in TYPE_NAMES:
        required, optional, unsupported, minimum = TYPE_NAMES[data["type"]]
        if names - required - optional:
            raise invalid(schema, unsupported, "secret_refs")
        if not required <= names:
            raise invalid(schema, minimum, "secret_refs")
    name = data.get("name")
    return NewContainer(name=name if isinstance(name, str) else None, type=data["type"],
                        members=[(item.get("name"), sid) for item, sid in zip(given, ids,
                                                                               strict=True)])


def container_secret(data: Any) -> tuple[str | None, str]:
    """(name, secret ref) of POST/DELETE /v1/containers/{id}/secrets."""
    fields = {"name": Field((STRING,), max_length=255),
              "secret_ref": Field((STRING,), min_length=1, max_length=refs.MAX_REF_CHARS)}
    data = check_object("ContainerSecret", stripped(data), fields, required=("secret_ref",))
    return data.get("name"), data["secret_ref"]


# --- ACLs and consumers ---------------------------------------------------------------------

ACL_FIELDS = {"users": Field((ARRAY,), max_length=MAX_ACL_USERS),
              "project-access": Field((BOOLEAN,))}


@dataclass(frozen=True)
class AclChange:
    """The read ACL asked for, or None when the body does not name one."""

    project_access: bool | None
    users: list[str] | None


def acl(data: Any) -> AclChange | None:
    schema = "ACL"
    data = check_object(schema, stripped(data), {"read": Field((OBJECT,))}, closed=True)
    read = data.get("read")
    if not read:
        return None
    check_object(schema, read, ACL_FIELDS, closed=True)
    users = read.get("users")
    for user in users or []:
        check_field(schema, "read", user, Field((STRING,), max_length=255))
    return AclChange(project_access=read.get("project-access"), users=users)


CONSUMER_FIELDS = {
    "service": Field((STRING,), max_length=255, min_length=1),
    "resource_type": Field((STRING,), max_length=255, min_length=1),
    "resource_id": Field((STRING,), max_length=255, min_length=1),
}


def consumer(data: Any) -> tuple[str, str, str]:
    data = check_object("Secret Consumer", stripped(data), CONSUMER_FIELDS,
                        required=("service", "resource_type", "resource_id"))
    return data["service"], data["resource_type"], data["resource_id"]
