"""Credential Manager: delivery secrets encrypted at rest, write-only to people.

Secrets are stored as MultiFernet tokens made with CREDENTIAL_KEYS (comma-separated,
newest first: the first key encrypts, any key decrypts). Rotation re-encrypts every
row with the newest key, after which older keys can be removed from the config.
Only transports see a plain secret, through `reveal` / `secret_for`; nothing here
logs, audits or returns one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import func, select

from app.errors import DeliveryError, ValidationError
from app.extensions import db
from app.models import AlertSettings, BatchCsvIntegration, Credential, User
from app.models.integrations import CREDENTIAL_KINDS
from app.services import audit, strict_json
from app.services.transports.base import Secret

MAX_NAME = 200
MAX_SECRET_CHARS = 16_384
ROTATE_CHUNK = 500


class CredentialUnreadable(DeliveryError):
    """The stored secret cannot be decrypted with the configured keys (a key was dropped too early)."""

    code = "credential_unreadable"

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


def generate_key() -> str:
    """A new Fernet key, for the front of CREDENTIAL_KEYS."""
    return Fernet.generate_key().decode()


def _keys() -> list[str]:
    raw = current_app.config.get("CREDENTIAL_KEYS") or ""
    keys = raw if isinstance(raw, list | tuple) else raw.split(",")
    return [k.strip() for k in keys if k and k.strip()]


def _fernet() -> MultiFernet:
    keys = _keys()
    if not keys:
        raise CredentialUnreadable("CREDENTIAL_KEYS is not set: credentials cannot be encrypted or read")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Say which entry is bad, never the key itself.
            raise CredentialUnreadable(
                f"CREDENTIAL_KEYS entry #{position} is not a valid Fernet key "
                "(make one with `flask credentials generate-key`)"
            ) from None
    return MultiFernet(fernets)


# --- secret shapes ---------------------------------------------------------------------------


def check_secret(kind: str, secret: Any) -> Any:
    """The normalised secret for a kind; ValidationError keyed `kind` / `secret` otherwise."""
    if kind not in CREDENTIAL_KINDS:
        raise ValidationError("unknown credential kind", {"kind": [f"must be one of {', '.join(CREDENTIAL_KINDS)}"]})
    if kind == "password":
        if not isinstance(secret, str) or not secret:
            raise ValidationError("invalid secret", {"secret": ["a password must be a non-empty string"]})
        if len(secret) > MAX_SECRET_CHARS or "\x00" in secret:
            raise ValidationError("invalid secret", {"secret": ["not a usable password"]})
        return secret
    if kind == "ssh_private_key":
        return _check_private_key(secret)
    if kind == "file_password":
        from app.services.protection import check_password

        return check_password(secret)
    if kind == "pgp_public_key":
        return _check_public_key(secret)
    return _check_s3_keys(secret)


def _check_public_key(secret: Any) -> str:
    from app.services.protection import check_public_key

    if not isinstance(secret, str) or not secret.strip():
        raise ValidationError("invalid secret", {"secret": ["the advertiser's OpenPGP public key (armoured text)"]})
    if len(secret) > MAX_SECRET_CHARS:
        raise ValidationError("invalid secret", {"secret": ["public key too long"]})
    return check_public_key(secret.strip() + "\n")


def _check_private_key(secret: Any) -> dict:
    from app.services.transports.sftp import load_private_key

    if isinstance(secret, str):
        secret = {"privateKey": secret}
    if not isinstance(secret, dict) or not isinstance(secret.get("privateKey"), str):
        raise ValidationError(
            "invalid secret",
            {"secret": ["an SSH private key: the key text, or {privateKey, passphrase}"]},
        )
    unknown = set(secret) - {"privateKey", "passphrase"}
    if unknown:
        raise ValidationError("invalid secret", {"secret": [f"unknown fields: {', '.join(sorted(unknown))}"]})
    text = secret["privateKey"].strip() + "\n"
    passphrase = secret.get("passphrase") or None
    if passphrase is not None and not isinstance(passphrase, str):
        raise ValidationError("invalid secret", {"secret": ["passphrase must be a string"]})
    if len(text) > MAX_SECRET_CHARS:
        raise ValidationError("invalid secret", {"secret": ["private key too long"]})
    try:
        load_private_key(text, passphrase)
    except ValueError as exc:
        raise ValidationError("invalid secret", {"secret": [str(exc)]}) from None
    return {"privateKey": text, "passphrase": passphrase}


def _check_s3_keys(secret: Any) -> dict:
    if isinstance(secret, str):
        try:
            secret = json.loads(secret)
        except ValueError:
            secret = None
    # Keys typed as JSON text (the admin form) may hold NaN or a lone surrogate: a 422, not a
    # key that breaks every delivery later.
    strict_json.check(secret, "secret")
    problems = []
    if not isinstance(secret, dict):
        problems.append("must be an object {accessKeyId, secretAccessKey}")
    else:
        for name in ("accessKeyId", "secretAccessKey"):
            if not isinstance(secret.get(name), str) or not secret[name].strip():
                problems.append(f"{name} is required")
        unknown = set(secret) - {"accessKeyId", "secretAccessKey", "sessionToken"}
        if unknown:
            problems.append(f"unknown fields: {', '.join(sorted(unknown))}")
    if problems:
        raise ValidationError("invalid secret", {"secret": problems})
    clean = {"accessKeyId": secret["accessKeyId"].strip(), "secretAccessKey": secret["secretAccessKey"].strip()}
    if secret.get("sessionToken"):
        clean["sessionToken"] = str(secret["sessionToken"])
    return clean


def _encrypt(value: Any) -> bytes:
    return _fernet().encrypt(json.dumps({"v": value}).encode())


def encrypt_value(value: Any) -> bytes:
    """Encrypt a secret kept outside the credentials table (the alerts' webhook secret)."""
    return _encrypt(value)


def decrypt_value(ciphertext: bytes, what: str) -> Any:
    """The plain value of encrypt_value; CredentialUnreadable if no configured key can read it."""
    try:
        return json.loads(_fernet().decrypt(ciphertext))["v"]
    except InvalidToken:
        raise CredentialUnreadable(f"{what} cannot be decrypted with the configured CREDENTIAL_KEYS") from None


# --- create, update, reveal ------------------------------------------------------------------


def _check_name(enterprise_id: int, name: Any, exclude_id: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("invalid credential", {"name": ["required"]})
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValidationError("invalid credential", {"name": [f"at most {MAX_NAME} characters"]})
    query = select(Credential.id).where(Credential.enterprise_id == enterprise_id, Credential.name == name)
    if exclude_id is not None:
        query = query.where(Credential.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise ValidationError("invalid credential", {"name": ["already used by another credential"]})
    return name


def create_credential(enterprise_id: int, name: str, kind: str, secret: Any, user: User | None = None) -> Credential:
    """Validate and store a new encrypted credential; audited; commits."""
    name = _check_name(enterprise_id, name)
    value = check_secret(kind, secret)
    credential = Credential(enterprise_id=enterprise_id, name=name, kind=kind, ciphertext=_encrypt(value))
    db.session.add(credential)
    db.session.flush()
    audit.record(
        "credential.create",
        "credential",
        credential.id,
        user=user,
        enterprise_id=enterprise_id,
        details={"name": name, "kind": kind},
    )
    db.session.commit()
    return credential


def update_secret(credential: Credential, secret: Any, user: User | None = None, name: str | None = None) -> Credential:
    """Replace a credential's secret (same kind), optionally its name; audited; commits."""
    if name is not None:
        credential.name = _check_name(credential.enterprise_id, name, exclude_id=credential.id)
    credential.ciphertext = _encrypt(check_secret(credential.kind, secret))
    audit.record(
        "credential.update",
        "credential",
        credential.id,
        user=user,
        enterprise_id=credential.enterprise_id,
        details={"name": credential.name, "kind": credential.kind},
    )
    db.session.commit()
    return credential


def reveal(credential: Credential) -> Secret:
    """The plain secret, for a transport only; CredentialUnreadable if no key can decrypt it."""
    try:
        payload = _fernet().decrypt(credential.ciphertext)
    except InvalidToken:
        raise CredentialUnreadable(
            f"credential {credential.name!r} cannot be decrypted with the configured CREDENTIAL_KEYS "
            "(was its key removed before `flask credentials rotate` ran?)"
        ) from None
    return Secret(credential.kind, json.loads(payload)["v"])


def secret_for(integration: BatchCsvIntegration) -> Secret | None:
    """The revealed secret of an integration's credential (None if it has none)."""
    if integration.credential_id is None:
        return None
    credential = db.session.get(Credential, integration.credential_id)
    # Tenant isolation: a credential of another enterprise is treated as absent.
    if credential is None or credential.enterprise_id != integration.enterprise_id:
        raise DeliveryError("the integration's credential no longer exists", transient=False)
    return reveal(credential)


def protection_secret_for(integration: BatchCsvIntegration, protection: str) -> Any:
    """The password or public key that locks the integration's files (DeliveryError if unusable)."""
    from app.file_options import PROTECTION_KINDS

    kind = PROTECTION_KINDS[protection]
    credential_id = integration.protection_credential_id
    credential = db.session.get(Credential, credential_id) if credential_id is not None else None
    # Tenant isolation and kind, checked again at send time: the credential may have changed.
    if credential is None or credential.enterprise_id != integration.enterprise_id or credential.kind != kind:
        raise DeliveryError(f"file protection {protection} needs a credential of kind {kind}", transient=False)
    return reveal(credential).value


def get_credential(enterprise_id: int, credential_id: Any, kinds: tuple[str, ...] | None = None) -> Credential:
    """A credential of this enterprise (NotFound otherwise), optionally of an allowed kind."""
    from app.services.tenancy import get_owned

    credential = get_owned(Credential, credential_id, enterprise_id)
    if kinds is not None and credential.kind not in kinds:
        raise ValidationError(
            "credential of the wrong kind",
            {"delivery.credentialId": [f"needs a credential of kind {' or '.join(kinds) or 'none'}"]},
        )
    return credential


def list_credentials(enterprise_id: int, kinds: tuple[str, ...] | None = None) -> list[Credential]:
    """An enterprise's credentials by name (names and kinds are all anyone may see)."""
    query = select(Credential).where(Credential.enterprise_id == enterprise_id).order_by(Credential.name)
    if kinds:
        query = query.where(Credential.kind.in_(kinds))
    return list(db.session.scalars(query))


def to_dict(credential: Credential) -> dict:
    """The public view of a credential: never the secret."""
    return {
        "id": credential.id,
        "name": credential.name,
        "kind": credential.kind,
        "createdAt": credential.created_at.isoformat().replace("+00:00", "Z"),
        "updatedAt": credential.updated_at.isoformat().replace("+00:00", "Z"),
    }


# --- key rotation ----------------------------------------------------------------------------


def count_credentials() -> int:
    return db.session.scalar(select(func.count(Credential.id))) or 0


def rotate_keys(on_progress: Callable[[int], None] | None = None) -> int:
    """Re-encrypt every credential with the newest key; all or nothing. Returns how many."""
    fernet = _fernet()
    ids = list(db.session.scalars(select(Credential.id).order_by(Credential.id)))
    for start in range(0, len(ids), ROTATE_CHUNK):
        chunk = ids[start : start + ROTATE_CHUNK]
        for credential in db.session.scalars(select(Credential).where(Credential.id.in_(chunk))):
            try:
                credential.ciphertext = fernet.rotate(credential.ciphertext)
            except InvalidToken:
                db.session.rollback()
                raise CredentialUnreadable(
                    f"credential {credential.id} ({credential.name!r}) cannot be decrypted with any configured "
                    "key; nothing was rotated. Put the old key back in CREDENTIAL_KEYS (after the new one)."
                ) from None
        db.session.flush()
        if on_progress:
            on_progress(len(chunk))
    # The alerts' webhook secrets are encrypted with the same keys: rotated in the same transaction.
    for settings in db.session.scalars(select(AlertSettings).where(AlertSettings.webhook_secret.is_not(None))):
        try:
            settings.webhook_secret = fernet.rotate(settings.webhook_secret)
        except InvalidToken:
            db.session.rollback()
            raise CredentialUnreadable(
                f"the webhook secret of enterprise {settings.enterprise_id} cannot be decrypted with any "
                "configured key; nothing was rotated. Put the old key back in CREDENTIAL_KEYS (after the new one)."
            ) from None
    audit.record("credential.rotate", "credential", None, details={"count": len(ids)})
    db.session.commit()
    return len(ids)
