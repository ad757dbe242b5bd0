"""Rotation of the payload keys (`nslb rotate-keys --secrets`).

1. A new key becomes the primary: a running nslb notices the directory change and seals
   new payloads with it; until then it may still seal with the previous primary.
2. Every payload sealed by another key is opened and sealed again by the new primary,
   row by row in small transactions (a row changed meanwhile, e.g. deleted, is skipped).
3. Keys that no payload uses any more are removed, except the new primary and the one
   before it (a write that started before the running nslb noticed step 1 may still land
   under it; the next rotation re-seals it).

Payloads stored before a rotation therefore stay readable, and a key leaves the disk
only when nothing needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from nslb.db.engine import Database
from nslb.db.tables import km_secret_payload
from nslb.secrets import crypto, repo

BATCH = 200


@dataclass(frozen=True)
class Rotated:
    primary: int
    resealed: int
    removed: tuple[int, ...]


def rotate(db: Database, state_dir: Path) -> Rotated:
    directory = state_dir / "secret-keys"
    crypto.ensure(directory)
    previous = max(crypto.key_ids(directory))
    primary = previous + 1
    crypto.write_key(directory, primary)
    keys = crypto.PayloadKeys(directory)
    resealed = _reseal(db, keys, primary)
    with db.read() as session:
        in_use = repo.keys_in_use(session)
    removed = tuple(k for k in crypto.key_ids(directory)
                    if k not in in_use and k not in (primary, previous))
    for key_id in removed:
        (directory / str(key_id)).unlink(missing_ok=True)
    return Rotated(primary, resealed, removed)


def _reseal(db: Database, keys: crypto.PayloadKeys, primary: int) -> int:
    done = 0
    skipped: set[str] = set()
    while True:
        with db.read() as session:
            rows = [r for r in repo.sealed_by_other_keys(session, primary, BATCH + len(skipped))
                    if r[0] not in skipped]
        if not rows:
            return done
        for secret_id, project_id, key_id, sealed in rows[:BATCH]:
            aad = crypto.associated_data(secret_id, project_id)
            plain = keys.open(key_id, sealed, aad)
            new_key, new_sealed = keys.seal(plain, aad)
            with db.write() as session:
                result = session.execute(
                    update(km_secret_payload)
                    .where(km_secret_payload.c.secret_id == secret_id,
                           km_secret_payload.c.key_id == key_id)
                    .values(key_id=new_key, ciphertext=new_sealed))
                changed = result.rowcount  # type: ignore[attr-defined]
            if changed:
                done += 1
            else:
                skipped.add(secret_id)
