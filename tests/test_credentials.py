"""Credential Manager: encrypted at rest, write-only, rotatable keys."""

from __future__ import annotations

import json
import logging
import pickle

import asyncssh
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.errors import DeliveryError, ValidationError
from app.extensions import db
from app.models import AuditEvent, Credential
from app.services import credentials
from app.services.credentials import CredentialUnreadable
from app.services.transports import Secret, get_transport
from tests.servers.common import make_source

PASSWORD = "Tr0ub4dor&3-very-secret"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def audit_log() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_each_kind_round_trips_and_the_secret_is_not_stored_in_the_clear(app, world, client_keypair):
    admin = world.a.users["admin"]
    enterprise_id = world.a.enterprise.id
    private_key = client_keypair[0]

    made = [
        credentials.create_credential(enterprise_id, "sftp login", "password", PASSWORD, admin),
        credentials.create_credential(enterprise_id, "sftp key", "ssh_private_key", private_key, admin),
        credentials.create_credential(
            enterprise_id, "bucket", "s3_keys", {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": S3_SECRET}, admin
        ),
    ]

    assert [credentials.reveal(c) for c in made] == [
        Secret("password", PASSWORD),
        Secret("ssh_private_key", {"privateKey": private_key.strip() + "\n", "passphrase": None}),
        Secret("s3_keys", {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": S3_SECRET}),
    ]
    for credential in made:
        stored = db.session.execute(select(Credential.ciphertext).where(Credential.id == credential.id)).scalar_one()
        assert PASSWORD.encode() not in stored and S3_SECRET.encode() not in stored and b"PRIVATE KEY" not in stored
    events = audit_log()
    assert [(e.action, e.severity, e.actor) for e in events] == [("credential.create", "high", admin.email)] * 3
    assert events[0].details == {"name": "sftp login", "kind": "password"}


def test_the_secret_never_shows_in_repr_str_public_view_audit_or_logs(app, world, caplog, sftp_server):
    caplog.set_level(logging.DEBUG)
    credential = credentials.create_credential(world.a.enterprise.id, "sftp", "password", PASSWORD)
    secret = credentials.reveal(credential)

    credentials.update_secret(credential, PASSWORD + "-2")
    with pytest.raises(DeliveryError) as caught:  # a failed delivery logs and reports, with no secret
        get_transport("sftp").deliver(make_source(b"x"), sftp_server.settings(), credentials.reveal(credential))
    logging.getLogger("app").info("revealed %s / %r", secret, secret)

    shown = [
        repr(secret),
        str(secret),
        repr(credential),
        str(credential),
        json.dumps(credentials.to_dict(credential)),
        json.dumps([e.details for e in audit_log()]),
        caught.value.message,
        caplog.text,
    ]
    for text in shown:
        assert PASSWORD not in text
    assert repr(secret) == "Secret(kind='password', value='***')"
    with pytest.raises(TypeError, match="not picklable"):  # so it can never ride along in an RQ job
        pickle.dumps(secret)
    assert set(credentials.to_dict(credential)) == {"id", "name", "kind", "createdAt", "updatedAt"}


def test_update_secret_replaces_it_and_is_audited(app, world):
    admin = world.a.users["admin"]
    credential = credentials.create_credential(world.a.enterprise.id, "ftp", "password", "old-Pa55word", admin)

    credentials.update_secret(credential, "new-Pa55word", admin, name="ftp (rotated)")

    assert credentials.reveal(db.session.get(Credential, credential.id)) == Secret("password", "new-Pa55word")
    assert credential.name == "ftp (rotated)"
    assert [e.action for e in audit_log()] == ["credential.create", "credential.update"]


@pytest.mark.parametrize(
    ("kind", "secret", "field", "message"),
    [
        ("magic", "x", "kind", "must be one of password, ssh_private_key, s3_keys"),
        ("password", "", "secret", "a password must be a non-empty string"),
        ("password", {"p": 1}, "secret", "a password must be a non-empty string"),
        ("ssh_private_key", "-----BEGIN NONSENSE-----", "secret", "not an SSH private key"),
        ("s3_keys", {"accessKeyId": "AKIA"}, "secret", "secretAccessKey is required"),
        ("s3_keys", "not json", "secret", "must be an object {accessKeyId, secretAccessKey}"),
    ],
)
def test_bad_secrets_are_rejected_with_the_field_named_and_nothing_is_stored(app, world, kind, secret, field, message):
    with pytest.raises(ValidationError) as caught:
        credentials.create_credential(world.a.enterprise.id, "bad", kind, secret)
    assert any(m.startswith(message) for m in caught.value.details[field])
    assert db.session.scalar(select(Credential.id)) is None


def test_encrypted_private_key_needs_its_passphrase(app, world):
    key = asyncssh.generate_private_key("ssh-ed25519")
    text = key.export_private_key("pkcs8-pem", passphrase="open sesame").decode()
    enterprise_id = world.a.enterprise.id

    with pytest.raises(ValidationError) as caught:
        credentials.create_credential(enterprise_id, "k", "ssh_private_key", text)
    assert caught.value.details == {"secret": ["the private key is encrypted: give its passphrase"]}
    with pytest.raises(ValidationError) as caught:
        credentials.create_credential(enterprise_id, "k", "ssh_private_key", {"privateKey": text, "passphrase": "no"})
    assert caught.value.details == {"secret": ["the private key could not be decrypted: wrong passphrase?"]}

    ok = credentials.create_credential(
        enterprise_id, "k", "ssh_private_key", {"privateKey": text, "passphrase": "open sesame"}
    )
    assert credentials.reveal(ok).value["passphrase"] == "open sesame"


def test_names_are_unique_per_enterprise_only(app, world):
    credentials.create_credential(world.a.enterprise.id, "shared name", "password", "pw-one")
    credentials.create_credential(world.b.enterprise.id, "shared name", "password", "pw-two")
    with pytest.raises(ValidationError) as caught:
        credentials.create_credential(world.a.enterprise.id, " shared name ", "password", "pw-three")
    assert caught.value.details == {"name": ["already used by another credential"]}
    assert [c.name for c in credentials.list_credentials(world.a.enterprise.id)] == ["shared name"]


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_then_be_dropped(app, world):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["CREDENTIAL_KEYS"] = old_key
    made = [credentials.create_credential(world.a.enterprise.id, f"c{i}", "password", f"pw-{i}") for i in range(3)]
    before = {c.id: c.ciphertext for c in made}

    app.config["CREDENTIAL_KEYS"] = f"{new_key}, {old_key}"
    progress: list[int] = []
    assert credentials.rotate_keys(on_progress=progress.append) == 3
    assert sum(progress) == 3

    app.config["CREDENTIAL_KEYS"] = new_key
    db.session.expire_all()
    for i, credential in enumerate(made):
        credential = db.session.get(Credential, credential.id)
        assert credential.ciphertext != before[credential.id]
        assert credentials.reveal(credential) == Secret("password", f"pw-{i}")
    assert audit_log()[-1].action == "credential.rotate"
    assert audit_log()[-1].details == {"count": 3}


def test_a_missing_key_gives_a_clear_permanent_error_and_rotation_changes_nothing(app, world):
    credential = credentials.create_credential(world.a.enterprise.id, "ftp login", "password", "pw-x")
    stored = credential.ciphertext
    app.config["CREDENTIAL_KEYS"] = Fernet.generate_key().decode()

    with pytest.raises(CredentialUnreadable) as caught:
        credentials.reveal(credential)
    assert isinstance(caught.value, DeliveryError) and caught.value.transient is False
    assert "credential 'ftp login' cannot be decrypted with the configured CREDENTIAL_KEYS" in caught.value.message

    with pytest.raises(CredentialUnreadable, match="nothing was rotated"):
        credentials.rotate_keys()
    assert db.session.get(Credential, credential.id).ciphertext == stored

    app.config["CREDENTIAL_KEYS"] = "not-a-fernet-key"
    with pytest.raises(CredentialUnreadable, match="CREDENTIAL_KEYS entry #1 is not a valid Fernet key"):
        credentials.reveal(credential)


def test_secret_for_an_integration_stays_within_its_enterprise(app, world):
    integration = world.a.integration
    assert credentials.secret_for(integration) is None

    own = credentials.create_credential(world.a.enterprise.id, "own", "password", "pw-own")
    integration.credential_id = own.id
    assert credentials.secret_for(integration) == Secret("password", "pw-own")

    foreign = credentials.create_credential(world.b.enterprise.id, "foreign", "password", "pw-b")
    integration.credential_id = foreign.id
    with pytest.raises(DeliveryError, match="credential no longer exists") as caught:
        credentials.secret_for(integration)
    assert caught.value.transient is False


def test_cli_generate_key_and_rotate(app, world, runner):
    generated = runner.invoke(args=["credentials", "generate-key"])
    assert generated.exit_code == 0
    new_key = generated.stdout.strip()
    Fernet(new_key)  # a usable key
    assert "run `flask credentials rotate`" in generated.stderr

    credentials.create_credential(world.a.enterprise.id, "c", "password", "pw-cli")
    app.config["CREDENTIAL_KEYS"] = f"{new_key},{app.config['CREDENTIAL_KEYS']}"
    rotated = runner.invoke(args=["credentials", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1 credential(s) with the newest key." in rotated.stdout

    app.config["CREDENTIAL_KEYS"] = Fernet.generate_key().decode()
    failed = runner.invoke(args=["credentials", "rotate"])
    assert failed.exit_code == 1
    assert "cannot be decrypted with any configured key; nothing was rotated" in failed.output
