"""Delivery settings and credential secrets: one schema per method / kind, chosen by a tag.

`Tagged` loads an object with the schema its tag names (`method`, `kind`) and is
documented as `oneOf` with a `discriminator`, so a client generated from the document
sends, for an S3 delivery, exactly the S3 settings. What no JSON Schema can state is in
each field's description (a host key the server can parse, a directory inside the
delivery root, a template with known tokens).
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from app.api.schema_fields import (
    BLANK,
    BLANK_IN_LINE,
    LINE,
    NON_BLANK_TEXT,
    Bool,
    Id,
    Int,
    NullOnly,
    Pattern,
    line,
    text,
)

# The server's own rules (app/services/transports), as patterns.
BUCKET = r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]"
REGION = r"[a-z0-9\-]{2,40}"
ADDRESS = rf"[^@{BLANK}<>,;\"()\[\]\u0000]+@[^@{BLANK}<>,;\"()\[\]\u0000]+"
# A host: a name or address, no blank, '/' or '@' inside (blanks around it are trimmed).
HOST = rf"[{BLANK_IN_LINE}]*[^{BLANK}\u0000/@]+[{BLANK_IN_LINE}]*"
# A remote directory without '..' segments (the value is trimmed first).
_END = rf"(?:/|[{BLANK_IN_LINE}]*$)"
NO_DOTDOT = rf"(?![{BLANK_IN_LINE}]*\.\.{_END})(?![^\r\n\u0000]*/\.\.{_END}){LINE}"


class Tagged(fields.Field):
    """An object loaded by the schema that its `tag` key names."""

    # Documented with a discriminator (the tag is required in every branch).
    discriminated = True

    def __init__(self, tag: str, schemas: dict[str, type[Schema]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.schemas = schemas

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError(f"must be an object with a {self.tag}")
        tag = value.get(self.tag)
        schema = self.schemas.get(tag) if isinstance(tag, str) else None
        if schema is None:
            raise ValidationError({self.tag: [f"one of {', '.join(self.schemas)}"]})
        return schema().load(value)

    def documented(self) -> list[type[Schema]]:
        """The document's oneOf branches, in order."""
        return list(self.schemas.values())


class Either(fields.Field):
    """A string, or an object loaded by `schema` (an SSH key alone, or with its passphrase)."""

    def __init__(self, string: fields.String, schema: type[Schema], **kwargs) -> None:
        super().__init__(**kwargs)
        self.string = string
        self.schema = schema

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return self.string.deserialize(value)
        if isinstance(value, dict):
            return self.schema().load(value)
        raise ValidationError("a string or an object")


def tagged_to_openapi(converter, field, **kwargs) -> dict:
    """apispec attribute function: Tagged is a oneOf with a discriminator, Either a oneOf of two."""
    if isinstance(field, Either):
        return {"oneOf": [converter.field2property(field.string), converter.resolve_nested_schema(field.schema)]}
    if not isinstance(field, Tagged):
        return {}
    if not field.discriminated:
        return {"oneOf": [converter.resolve_nested_schema(schema) for schema in field.documented()]}
    refs = {tag: converter.resolve_nested_schema(schema) for tag, schema in field.schemas.items()}
    return {
        "oneOf": list(refs.values()),
        "discriminator": {"propertyName": field.tag, "mapping": {tag: ref["$ref"] for tag, ref in refs.items()}},
    }


def _tag(value: str):
    return fields.String(required=True, validate=validate.OneOf([value]))


def _setting(pattern: str, error: str, *, required: bool, max_length: int, description: str = "", **kw):
    """A single-line setting with a pattern of its own."""
    checks = [Pattern(pattern, error), validate.Length(max=max_length)]
    meta = {"description": description} if description else {}
    return fields.String(required=required, allow_none=not required, validate=checks, metadata=meta, **kw)


def _port(default: int):
    return Int(1, 65535, allow_none=True, metadata={"description": f"default {default}"})


def _remote_dir():
    return _setting(NO_DOTDOT, "a directory without '..' segments", required=False, max_length=1000)


def _host():
    return _setting(
        HOST,
        "a host name or IP address",
        required=True,
        max_length=253,
        description="a public address, or one in the networks the server admits (DELIVERY_ALLOWED_NETWORKS)",
    )


# -- delivery --------------------------------------------------------------------------


class SftpDelivery(Schema):
    method = _tag("sftp")
    host = _host()
    port = _port(22)
    username = line(required=True, max_length=100)
    remoteDir = _remote_dir()
    hostKey = line(
        required=True,
        max_length=16_384,
        metadata={"description": "the server's public key line the server can parse, e.g. ssh-ed25519 AAAA…"},
    )
    credentialId = Id(required=True, metadata={"description": "a credential of kind password or ssh_private_key"})


class FtpDelivery(Schema):
    method = _tag("ftp")
    host = _host()
    port = _port(21)
    username = line(required=False, max_length=100, metadata={"description": "default anonymous"})
    remoteDir = _remote_dir()
    tls = Bool(
        allow_none=True,
        metadata={
            "description": "true (the default when omitted or null) is FTPS with a verified certificate; "
            "false is plain FTP, unencrypted"
        },
    )
    credentialId = Id(required=True, metadata={"description": "a credential of kind password"})


class EmailDelivery(Schema):
    method = _tag("email")
    recipients = fields.List(
        fields.String(validate=Pattern(ADDRESS, "not an e-mail address")),
        required=True,
        validate=validate.Length(min=1, max=50),
    )
    subject = line(
        required=False,
        max_length=250,
        metadata={"description": "a template: {file_name} {lead_count} {label} {advertiser_id} {campaign_id} …"},
    )
    credentialId = NullOnly()


class S3Delivery(Schema):
    method = _tag("s3")
    bucket = _setting(BUCKET, "3-63 lowercase letters, digits, dots or hyphens", required=True, max_length=63)
    prefix = line(required=False, max_length=900, metadata={"description": "no empty, '.' or '..' segments"})
    endpointUrl = line(
        required=False,
        max_length=500,
        metadata={"description": "an http:// or https:// URL whose host passes the egress policy, as for host"},
    )
    region = _setting(REGION, "a region name, e.g. eu-west-1", required=False, max_length=40)
    credentialId = Id(required=True, metadata={"description": "a credential of kind s3_keys"})


class LocalDelivery(Schema):
    method = _tag("local")
    directory = line(
        required=True,
        max_length=1000,
        metadata={
            "description": "a relative folder inside the enterprise's own delivery folder "
            "(<LOCAL_DELIVERY_ROOT>/<enterprise id>/), e.g. acme/daily: no leading /, no '..'"
        },
    )
    credentialId = NullOnly()


DELIVERIES = {
    "sftp": SftpDelivery,
    "email": EmailDelivery,
    "ftp": FtpDelivery,
    "s3": S3Delivery,
    "local": LocalDelivery,
}


# -- credentials -----------------------------------------------------------------------


class S3Keys(Schema):
    accessKeyId = text(NON_BLANK_TEXT, error="required, not blank", required=True, max_length=1000)
    secretAccessKey = text(NON_BLANK_TEXT, error="required, not blank", required=True, max_length=1000)
    sessionToken = text(allow_none=True, max_length=16_384)


class PrivateKey(Schema):
    privateKey = text(
        NON_BLANK_TEXT,
        error="required, not blank",
        required=True,
        max_length=16_384,
        metadata={"description": "an OpenSSH or PEM private key the server can load"},
    )
    passphrase = text(allow_none=True, max_length=1000)


def _name():
    checks = [Pattern(NON_BLANK_TEXT, "must not be blank or contain NUL characters"), validate.Length(max=200)]
    return fields.String(
        required=True, validate=checks, metadata={"description": "unique among the enterprise's credentials"}
    )


class PasswordCredential(Schema):
    name = _name()
    kind = _tag("password")
    secret = fields.String(
        required=True,
        validate=[Pattern(r"[^\u0000]+", "a non-empty password without NUL"), validate.Length(max=16_384)],
    )


class SshKeyCredential(Schema):
    name = _name()
    kind = _tag("ssh_private_key")
    secret = Either(
        fields.String(validate=[Pattern(NON_BLANK_TEXT, "the key text"), validate.Length(max=16_383)]),
        PrivateKey,
        required=True,
        metadata={"description": "the private key text, or {privateKey, passphrase}"},
    )


class S3KeysCredential(Schema):
    name = _name()
    kind = _tag("s3_keys")
    secret = Either(
        # The service parses JSON text itself (strictly, naming the bad key).
        fields.String(validate=[Pattern(NON_BLANK_TEXT, "JSON text"), validate.Length(max=16_384)]),
        S3Keys,
        required=True,
        metadata={"description": "{accessKeyId, secretAccessKey, sessionToken?}, or that object as JSON text"},
    )


class FilePasswordCredential(Schema):
    name = _name()
    kind = _tag("file_password")
    secret = fields.String(
        required=True,
        validate=[Pattern(r"[^\u0000]+", "a non-empty password without NUL"), validate.Length(max=1024)],
        metadata={"description": "the password of zip-aes and xlsx-password files (README: Protected files)"},
    )


class PgpPublicKeyCredential(Schema):
    name = _name()
    kind = _tag("pgp_public_key")
    secret = fields.String(
        required=True,
        validate=[Pattern(NON_BLANK_TEXT, "the armoured public key text"), validate.Length(max=16_383)],
        metadata={
            "description": "the advertiser's ASCII-armoured OpenPGP public key with an encryption subkey, "
            "as GnuPG imports it (a private key is refused)"
        },
    )


CREDENTIALS = {
    "password": PasswordCredential,
    "ssh_private_key": SshKeyCredential,
    "s3_keys": S3KeysCredential,
    "file_password": FilePasswordCredential,
    "pgp_public_key": PgpPublicKeyCredential,
}
