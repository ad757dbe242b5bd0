"""Keystone's extra attributes of users and projects.

Keystone keeps every key of a user or project body that is not one of the model's own
attributes in the row's `extra` JSON column and returns those keys beside the attributes
(ModelDictMixinWithExtras): a user's `email` survives and comes back, so a client that
compares what it sent with what it reads (Ansible's identity_user) sees no change.

Keystone's rules, kept here:
- an attribute never becomes an extra, and on the way out the attributes win over any
  extra of the same name (`to_dict` lays the attributes over `extra`);
- `password`, `tenants`, `groups` and `domains` are never returned (identity's
  filter_user), `options` and `federated` are handled apart from extras and `extra`
  itself is not a key; nslb also keeps `links` its own, and ignores `id` as Keystone
  replaces it;
- a create turns ':' and '-' in keys into '_' (`_normalize_dict`); an update replaces the
  keys it names (null included) and keeps the others.

Bound: Keystone's `extra` is a TEXT column, 65,535 bytes on MySQL; nslb refuses extras
whose JSON is longer (the whole body is bounded before it is read, api/guards.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_EXTRA_BYTES = 65_535
# Never stored as extras, never returned from them.
HANDLED_APART = frozenset({"id", "links", "extra", "options", "federated",
                           "password", "tenants", "groups", "domains"})
# A user's description is an extra in Keystone (shown only once given, "" included): nslb
# keeps it in its column too, and the extra says whether and how it was given.
USER_ATTRIBUTES = frozenset({"name", "domain_id", "enabled", "default_project_id",
                             "password_expires_at"})
PROJECT_ATTRIBUTES = frozenset({"name", "domain_id", "description", "enabled", "parent_id",
                                "is_domain", "tags"})


class ExtrasTooLarge(ValueError):
    """The extras of one user or project would not fit Keystone's column."""

    def __init__(self, size: int) -> None:
        super().__init__(f"The extra attributes take {size} bytes as JSON; at most "
                         f"{MAX_EXTRA_BYTES} are kept.")


def normalized(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keystone's _normalize_dict on a create: ':' and '-' in keys become '_'."""
    return {key.replace(":", "_").replace("-", "_"): value for key, value in body.items()}


def picked(body: Mapping[str, Any], attributes: frozenset[str]) -> dict[str, Any]:
    """The keys of a body that Keystone would keep as extras."""
    return {k: v for k, v in body.items() if k not in attributes and k not in HANDLED_APART}


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """An update: the keys given replace the stored ones, the rest stay."""
    return checked({**current, **changes})


def checked(extras: dict[str, Any]) -> dict[str, Any]:
    """The extras, or ExtrasTooLarge when their JSON would not fit the column."""
    size = len(json.dumps(extras, separators=(",", ":"), sort_keys=True).encode())
    if size > MAX_EXTRA_BYTES:
        raise ExtrasTooLarge(size)
    return extras


def flattened(extras: Mapping[str, Any] | None, attributes: dict[str, Any]) -> dict[str, Any]:
    """The JSON of a user or project: the extras, with the attributes laid over them."""
    shown = {k: v for k, v in (extras or {}).items() if k not in HANDLED_APART}
    return {**shown, **attributes}
