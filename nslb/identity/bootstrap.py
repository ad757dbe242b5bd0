"""First start: the default roles, an admin project and user, and a clouds.yaml for them."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from nslb.db import identity as repo
from nslb.db.engine import Database
from nslb.db.leases import serialize
from nslb.identity.passwords import hash_password
from nslb.model.identity import DEFAULT_DOMAIN_ID, DEFAULT_ROLES, Project, Role, User

ADMIN = "admin"
CLOUD = "nslb"


def ensure_admin(db: Database) -> str | None:
    """Create roles and the admin account if missing; the new admin password, else None."""
    with db.write() as session:
        serialize(session, "bootstrap")  # controllers starting together: one admin
        for name in DEFAULT_ROLES:
            if repo.role_by_name(session, name) is None:
                session.add(Role(name=name))
        session.flush()
        if repo.user_by_name(session, ADMIN, DEFAULT_DOMAIN_ID) is not None:
            return None
        project = repo.project_by_name(session, ADMIN, DEFAULT_DOMAIN_ID)
        if project is None:
            project = Project(name=ADMIN, description="nslb administrators")
            session.add(project)
        password = secrets.token_urlsafe(18)
        user = User(name=ADMIN, password_hash=hash_password(password),
                    default_project_id=project.id, description="nslb administrator")
        session.add(user)
        session.flush()
        for role_name in ("admin", "member", "reader"):
            role = repo.role_by_name(session, role_name)
            assert role is not None
            repo.assign(session, user.id, project.id, role.id)
    return password


def clouds_yaml(auth_url: str, password: str) -> str:
    """A clouds.yaml with cloud `nslb` for the admin; no YAML library needed for this
    (JSON strings are YAML double-quoted scalars, whatever characters they hold)."""
    return (
        "clouds:\n"
        f"  {CLOUD}:\n"
        "    auth:\n"
        f"      auth_url: {json.dumps(auth_url)}\n"
        f"      username: {ADMIN}\n"
        f"      password: {json.dumps(password)}\n"
        f"      project_name: {ADMIN}\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    region_name: RegionOne\n"
        "    interface: public\n"
        "    identity_api_version: 3\n"
    )


def write_clouds_yaml(path: Path, auth_url: str, password: str) -> None:
    """Write mode 0600 from the first byte: the file holds the admin password."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(clouds_yaml(auth_url, password))
    tmp.replace(path)
