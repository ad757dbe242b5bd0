"""The key manager with the stock clients only, against a real `nslb serve --auth keystone`:
`openstack secret store|list|get|delete`, `openstack secret container
create|list|get|delete` and `openstack acl user add|remove` / `acl get` (python-barbicanclient,
through keystoneauth's version discovery on the catalog's key-manager endpoint), a PKCS12
bundle stored the way Octavia's cookbook does it, another project kept out until an ACL
lets one of its users in, and openstacksdk's key_manager proxy.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.contract.test_openstack_cli import (
    PASSWORDS,
    Cli,
    KeystoneServer,
    parallel,
    server,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]
__all__ = ["server"]  # the fixture, shared with test_openstack_cli.py
TEXT = "a text secret: hello"


def pkcs12_bundle() -> bytes:
    """A self-signed certificate and its key as PKCS12 without a password, as
    `openssl pkcs12 -export -passout pass:` makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"tls", key, cert, None,
                                                 serialization.NoEncryption())


def _setup(cli: Cli) -> dict[str, Any]:
    p1, _, u1, u2 = parallel(
        lambda: cli.json("nslb", "project", "create", "p1"),
        lambda: cli.json("nslb", "project", "create", "p2"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user1"], "user1"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user2"], "user2"),
    )
    parallel(
        lambda: cli.run("nslb", "role", "add", "--user", "user1", "--project", "p1", "member"),
        lambda: cli.run("nslb", "role", "add", "--user", "user2", "--project", "p2", "member"),
    )
    return {"p1": p1, "user1": u1, "user2": u2}


def test_secret_container_and_acl_commands(server: KeystoneServer, tmp_path: Path) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    ids = _setup(cli)
    bundle = pkcs12_bundle()
    bundle_file = tmp_path / "bundle.p12"
    bundle_file.write_bytes(bundle)

    # --- user1 stores: text, a PKCS12 bundle as base64, a file as bytes ------------------
    text, tls, raw = parallel(
        lambda: cli.json("user1", "secret", "store", "--name", "text", "-t", "text/plain",
                         "--payload", TEXT),
        lambda: cli.json("user1", "secret", "store", "--name", "tls_secret1", "-t",
                         "application/octet-stream", "-e", "base64", "--payload",
                         base64.encodebytes(bundle).decode()),
        lambda: cli.json("user1", "secret", "store", "--name", "from-file", "--secret-type",
                         "certificate", "--file", str(bundle_file)),
    )
    prefix = f"{server.url}/key-manager/v1/secrets/"
    refs = {s["Name"]: s["Secret href"] for s in (text, tls, raw)}
    assert all(r.startswith(prefix) for r in refs.values())

    listed, shown, plain, binary, refused, mine_only = parallel(
        lambda: cli.json("user1", "secret", "list"),
        lambda: cli.json("user1", "secret", "get", refs["text"]),
        lambda: cli.json("user1", "secret", "get", "--payload", refs["text"]),
        lambda: cli.run("user1", "secret", "get", "--payload", "-t",
                        "application/octet-stream", "-f", "value", refs["tls_secret1"]).stdout,
        lambda: cli.fails("user1", "secret", "get", "--payload", refs["tls_secret1"]),
        lambda: cli.json("user2", "secret", "list"),
    )
    assert {s["Name"] for s in listed} == {"text", "tls_secret1", "from-file"}
    assert {s["Content types"]["default"] for s in listed} == {"text/plain",
                                                              "application/octet-stream"}
    assert shown["Status"] == "ACTIVE" and shown["Secret type"] == "opaque"
    assert plain["Payload"] == TEXT
    assert binary.strip() == repr(bundle)  # the CLI prints bytes as their repr
    assert "Not Acceptable" in refused and "Wrong payload content-type" in refused
    assert mine_only == []
    by_type = cli.json("user1", "secret", "list", "--secret-type", "certificate")
    assert [s["Name"] for s in by_type] == ["from-file"]

    # --- another project: nothing, until an ACL names its user ---------------------------
    hidden = cli.fails("user2", "secret", "get", "--payload", refs["text"])
    assert "Secret not found" in hidden
    added = cli.json("user1", "acl", "user", "add", "--user", ids["user2"]["id"],
                     refs["text"])
    assert added[0]["Users"] == [ids["user2"]["id"]] and added[0]["Project Access"] is True
    shared, acl = parallel(
        lambda: cli.json("user2", "secret", "get", "--payload", refs["text"]),
        lambda: cli.json("user1", "acl", "get", refs["text"]),
    )
    assert shared["Payload"] == TEXT
    assert acl[0]["Secret ACL Ref"] == refs["text"] + "/acl"
    denied = cli.fails("user2", "secret", "delete", refs["text"])
    assert "Forbidden" in denied
    cli.json("user1", "acl", "user", "remove", "--user", ids["user2"]["id"], refs["text"])
    assert "Secret not found" in cli.fails("user2", "secret", "get", refs["text"])

    # --- containers ---------------------------------------------------------------------
    cert = cli.json("user1", "secret", "store", "--name", "cert", "--secret-type",
                    "certificate", "-t", "text/plain", "--payload", "-----BEGIN CERT-----")
    container = cli.json("user1", "secret", "container", "create", "--name", "tls-legacy",
                         "--type", "certificate", "--secret",
                         f"certificate={cert['Secret href']}", "--secret",
                         f"private_key={refs['from-file']}")
    cref = container["Container href"]
    assert cref.startswith(f"{server.url}/key-manager/v1/containers/")
    assert container["Status"] == "ACTIVE"
    # barbicanclient hands a certificate container's `created` to the JSON formatter as a
    # datetime (TypeError with -f json, against Barbican too): read it as YAML
    got, containers, theirs = parallel(
        lambda: yaml.safe_load(cli.run("user1", "secret", "container", "get", cref, "-f",
                                       "yaml").stdout),
        lambda: cli.json("user1", "secret", "container", "list"),
        lambda: cli.fails("user2", "secret", "container", "get", cref),
    )
    assert got["Certificate"] == cert["Secret href"]
    assert got["Private Key"] == refs["from-file"]
    assert [c["Name"] for c in containers] == ["tls-legacy"]
    assert "Secrets container not found" in theirs
    foreign = cli.fails("user2", "secret", "container", "create", "--type", "certificate",
                        "--secret", f"certificate={cert['Secret href']}")
    assert "doesn't exist" in foreign
    cli.run("user1", "secret", "container", "delete", cref)
    assert cli.json("user1", "secret", "container", "list") == []

    # --- deletes ------------------------------------------------------------------------
    parallel(*(lambda r=r: cli.run("user1", "secret", "delete", r)
               for r in (*refs.values(), cert["Secret href"])))
    assert cli.json("user1", "secret", "list") == []

    # the catalog names the key manager; payloads never reach the server's log
    catalog = cli.json("user1", "catalog", "list")
    assert "key-manager" in {c["Type"] for c in catalog}
    log = server.log_path.read_text(errors="replace")
    assert "POST /key-manager/v1/secrets/ 201" in log
    assert TEXT not in log and base64.b64encode(bundle[:48]).decode() not in log


def test_openstacksdk_key_manager(server: KeystoneServer) -> None:
    config, admin_cloud = user_clouds(server)
    _setup(Cli(config))
    import openstack

    conn = openstack.connect(
        auth_url=admin_cloud["auth"]["auth_url"], username="user1",
        password=PASSWORDS["user1"], project_name="p1", user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne")
    try:
        km = conn.key_manager
        text = km.create_secret(name="sdk-text", payload=TEXT,
                                payload_content_type="text/plain", secret_type="passphrase")
        binary = km.create_secret(name="sdk-bin", payload=base64.b64encode(b"\x00\x01").decode(),
                                  payload_content_type="application/octet-stream",
                                  payload_content_encoding="base64")
        got = km.get_secret(text.secret_id)
        assert (got.name, got.payload, got.secret_type) == ("sdk-text", TEXT, "passphrase")
        assert km.get_secret(binary.secret_id).payload == b"\x00\x01"
        assert sorted(s.name for s in km.secrets()) == ["sdk-bin", "sdk-text"]
        assert [s.name for s in km.secrets(name="sdk-bin")] == ["sdk-bin"]
        container = km.create_container(name="sdk-c", type="generic", secret_refs=[
            {"name": "a", "secret_ref": text.secret_ref}])
        assert km.get_container(container.container_id).secret_refs == [
            {"name": "a", "secret_ref": text.secret_ref}]
        assert [c.name for c in km.containers()] == ["sdk-c"]
        km.delete_container(container.container_id)
        for secret in (text, binary):
            km.delete_secret(secret.secret_id)
        assert list(km.secrets()) == []
    finally:
        conn.close()
