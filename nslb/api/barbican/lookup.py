"""Finding the secret or container a path names, and checking a rule on it.

Barbican looks an id up in every project and then answers 403 when the policy refuses:
that tells a stranger which ids exist. nslb answers another project's object exactly as
a missing one (404, Barbican's wording), unless the caller may see it anyway (a user of
its read ACL, or an admin reading a secret's metadata, as Barbican's secret:get allows);
inside the owning project a refusal stays Barbican's 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from nslb.api.barbican.call import Call
from nslb.api.barbican.faults import abort, not_allowed
from nslb.model.secrets import Secret, SecretContainer
from nslb.secrets import policy, repo
from nslb.secrets.refs import is_uuid


@dataclass(frozen=True)
class Found:
    entity: Secret | SecretContainer
    target: policy.Target

    def require(self, call: Call, rule: policy.Rule, operation: str) -> None:
        if not rule(call.caller, self.target):
            raise not_allowed(operation)


def secret(call: Call) -> tuple[Secret, Found]:
    secret_id = call.ids["id"]
    if not is_uuid(secret_id):
        raise abort(404, "Not Found. Provided secret id is invalid.")
    with call.db.read() as session:
        found = repo.get_secret(session, secret_id)
        if found is None:
            raise abort(404, "Secret not found.")
        target = repo.target(session, found.id, found.project_id, found.creator_id,
                             call.caller.user_id)
    if not _visible(call.caller, target, policy.get_secret):
        raise abort(404, "Secret not found.")
    return found, Found(found, target)


def container(call: Call) -> tuple[SecretContainer, Found]:
    container_id = call.ids["id"]
    if not is_uuid(container_id):
        raise abort(404, "Not Found. Provided container id is invalid.")
    with call.db.read() as session:
        found = repo.get_container(session, container_id)
        if found is None:
            raise abort(404, "Secrets container not found.")
        target = repo.target(session, found.id, found.project_id, found.creator_id,
                             call.caller.user_id)
    if not _visible(call.caller, target, policy.read):
        raise abort(404, "Secrets container not found.")
    return found, Found(found, target)


def _visible(caller: policy.Caller, target: policy.Target, rule: policy.Rule) -> bool:
    return caller.project_id == target.project_id or rule(caller, target)
