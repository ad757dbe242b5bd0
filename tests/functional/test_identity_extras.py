"""Keystone's extra attributes of users and projects (issue 15 §3): kept, returned beside
the attributes, merged by PATCH, with Keystone's reserved keys and a size bound. This is
what makes Ansible's identity_user idempotent: it compares `email` with what it reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keystone_helpers import V3, Cloud, keystone_cloud, keystone_error

from nslb.identity.extras import MAX_EXTRA_BYTES


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with keystone_cloud(tmp_path) as c:
        yield c


def admin(cloud: Cloud, method: str, path: str, status: int, **body: Any) -> Any:
    return cloud.as_admin(method, f"{V3}/{path}", status, json=body or None)


def test_user_extras_are_kept_returned_and_merged(cloud: Cloud) -> None:
    made = admin(cloud, "POST", "users", 201, user={
        "name": "demo", "password": "s3cret-pw", "email": "demo@example.com",
        "team": {"name": "lb", "size": 3}})["user"]
    assert (made["email"], made["team"]) == ("demo@example.com", {"name": "lb", "size": 3})
    assert "password" not in made and "extra" not in made
    uid = made["id"]
    assert admin(cloud, "GET", f"users/{uid}", 200)["user"]["email"] == "demo@example.com"
    listed = admin(cloud, "GET", "users?name=demo", 200)["users"]
    assert [u["email"] for u in listed] == ["demo@example.com"]

    changed = admin(cloud, "PATCH", f"users/{uid}", 200,
                    user={"email": "new@example.com", "phone": None})["user"]
    assert (changed["email"], changed["team"], changed["phone"]) == \
        ("new@example.com", {"name": "lb", "size": 3}, None)
    # Keystone repeats the extras under `extra` in an update's answer only
    assert changed["extra"] == {"email": "new@example.com", "phone": None,
                                "team": {"name": "lb", "size": 3}}
    shown = admin(cloud, "GET", f"users/{uid}", 200)["user"]
    assert "extra" not in shown and shown["email"] == "new@example.com"
    # the password still works after extras changed
    assert cloud.login("demo", "s3cret-pw", None)


def test_a_user_description_shows_once_given_even_empty(cloud: Cloud) -> None:
    """Keystone keeps a user's description as an extra: absent until given, then shown as
    given ("" or null included), so a playbook sending description: "" reads "" back."""
    plain = admin(cloud, "POST", "users", 201, user={"name": "plain"})["user"]
    assert "description" not in plain
    empty = admin(cloud, "POST", "users", 201, user={"name": "empty", "description": ""})
    assert empty["user"]["description"] == ""
    uid = empty["user"]["id"]
    assert admin(cloud, "GET", f"users/{uid}", 200)["user"]["description"] == ""
    admin(cloud, "PATCH", f"users/{uid}", 200, user={"description": "set"})
    assert admin(cloud, "GET", f"users/{uid}", 200)["user"]["description"] == "set"
    admin(cloud, "PATCH", f"users/{uid}", 200, user={"description": None})
    assert admin(cloud, "GET", f"users/{uid}", 200)["user"]["description"] is None


def test_project_extras_and_create_key_normalisation(cloud: Cloud) -> None:
    made = admin(cloud, "POST", "projects", 201, project={
        "name": "extras", "cost-center": "42", "billing:code": "x1"})["project"]
    assert (made["cost_center"], made["billing_code"]) == ("42", "x1")
    pid = made["id"]
    changed = admin(cloud, "PATCH", f"projects/{pid}", 200,
                    project={"cost_center": "43", "owner": "ops"})["project"]
    assert (changed["cost_center"], changed["billing_code"], changed["owner"]) == \
        ("43", "x1", "ops")
    shown = admin(cloud, "GET", f"projects/{pid}", 200)["project"]
    assert {k: shown[k] for k in ("cost_center", "billing_code", "owner")} == \
        {"cost_center": "43", "billing_code": "x1", "owner": "ops"}


def test_reserved_keys_never_become_extras(cloud: Cloud) -> None:
    made = admin(cloud, "POST", "users", 201, user={
        "name": "reserved", "id": "f" * 32, "links": {"self": "http://evil"},
        "tenants": ["t"], "groups": ["g"], "extra": {"x": 1}, "options": {},
        "password_expires_at": "2030-01-01T00:00:00Z", "enabled": True})["user"]
    assert made["id"] != "f" * 32  # Keystone assigns the id
    assert made["links"]["self"].endswith(f"/users/{made['id']}")
    assert made["password_expires_at"] is None and made["options"] == {}
    for key in ("tenants", "groups", "extra", "x"):
        assert key not in made, key
    # attributes are attributes, never extras: a project's tags/parent_id are not stored
    project = admin(cloud, "POST", "projects", 201, project={
        "name": "attrs", "tags": ["a"], "is_domain": False})["project"]
    assert project["tags"] == [] and project["is_domain"] is False


def test_an_update_cannot_change_the_id(cloud: Cloud) -> None:
    made = admin(cloud, "POST", "users", 201, user={"name": "same-id"})["user"]
    resp = cloud.client.patch(f"{V3}/users/{made['id']}", headers=cloud.admin(),
                              json={"user": {"id": "0" * 32, "email": "x@example.com"}})
    assert keystone_error(resp, 400) == "Cannot change ID"
    assert "email" not in admin(cloud, "GET", f"users/{made['id']}", 200)["user"]
    admin(cloud, "PATCH", f"users/{made['id']}", 200, user={"id": made["id"]})


def test_extras_are_bounded_like_keystones_column(cloud: Cloud) -> None:
    big = "x" * MAX_EXTRA_BYTES
    resp = cloud.client.post(f"{V3}/users", headers=cloud.admin(),
                             json={"user": {"name": "big", "bio": big}})
    message = keystone_error(resp, 400)
    assert str(MAX_EXTRA_BYTES) in message and big[:100] not in message
    assert admin(cloud, "GET", "users?name=big", 200)["users"] == []
    made = admin(cloud, "POST", "users", 201, user={"name": "grows",
                                                    "bio": "x" * 40_000})["user"]
    resp = cloud.client.patch(f"{V3}/users/{made['id']}", headers=cloud.admin(),
                              json={"user": {"notes": "y" * 40_000}})
    keystone_error(resp, 400)
    assert "notes" not in admin(cloud, "GET", f"users/{made['id']}", 200)["user"]
