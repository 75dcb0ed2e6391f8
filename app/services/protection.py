"""Protected files: lock a built lead file with a password or the advertiser's PGP key.

Libraries (README "Protected files" says why):
- zip-aes: pyzipper writes WinZip AES-256 entries, which 7-Zip, Windows 11 and macOS
  Archive Utility open; the stdlib zipfile cannot encrypt.
- xlsx-password: msoffcrypto-tool writes Office "agile" encryption (AES-256), which Excel
  opens with the password.
- pgp: python-gnupg drives Debian's GnuPG (`gpg`), the OpenPGP implementation
  advertisers themselves use; PGPy, the pure-Python option, is unmaintained and breaks
  with current cryptography releases.

Encryption happens once, while the file is built into the store: the stored bytes are
what is delivered, resent and downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from app.errors import DeliveryError, ValidationError
from app.services.files.writer import FIXED_ZIP_TIME, ForwardOnly

COPY_CHUNK = 1024 * 1024
MAX_PASSWORD = 1024

# Writes the plain file to the given sink and returns the rows written.
PlainWriter = Callable[[BinaryIO], int]


def gpg_binary() -> str:
    """The gpg program; DeliveryError (permanent) if GnuPG is not installed on this host."""
    found = shutil.which("gpg")
    if not found:
        raise DeliveryError("GnuPG (gpg) is not installed on this host: apt-get install gnupg", transient=False)
    return found


@contextmanager
def _keyring(public_key: str) -> Iterator[tuple[object, list[str]]]:
    """A throwaway GnuPG home holding only `public_key`: (gpg, fingerprints that can encrypt)."""
    import gnupg

    with tempfile.TemporaryDirectory(prefix="bm-gpg-") as home:
        gpg = gnupg.GPG(gpgbinary=gpg_binary(), gnupghome=home)
        # Bytes: python-gnupg would encode text as latin-1 and fail on other characters.
        result = gpg.import_keys(public_key.encode("utf-8"))
        usable = [
            key["fingerprint"]
            for key in gpg.list_keys()
            if key["fingerprint"] in (result.fingerprints or []) and "e" in key.get("cap", "").lower()
        ]
        yield gpg, usable


def check_public_key(text: str) -> str:
    """The key text if it is an OpenPGP public key that can encrypt; ValidationError otherwise."""
    if not text.isascii():
        raise ValidationError("invalid secret", {"secret": ["an armoured OpenPGP key is ASCII text"]})
    if "PRIVATE KEY" in text:
        raise ValidationError("invalid secret", {"secret": ["this is a private key: give the advertiser's public key"]})
    try:
        with _keyring(text) as (_gpg, usable):
            if not usable:
                raise ValidationError(
                    "invalid secret",
                    {"secret": ["not an OpenPGP public key with an encryption subkey (ASCII-armoured text)"]},
                )
    except DeliveryError as exc:
        raise ValidationError("invalid secret", {"secret": [exc.message]}) from None
    return text


def check_password(secret: object) -> str:
    """A file password: a non-empty string without NUL, at most MAX_PASSWORD characters."""
    if not isinstance(secret, str) or not secret:
        raise ValidationError("invalid secret", {"secret": ["a file password must be a non-empty string"]})
    if len(secret) > MAX_PASSWORD or "\x00" in secret:
        raise ValidationError("invalid secret", {"secret": [f"at most {MAX_PASSWORD} characters, no NUL"]})
    return secret


def write_protected(
    protection: str, secret: object, write_plain: PlainWriter, out: BinaryIO, *, member_name: str, armor: bool = True
) -> int:
    """Write the file through `write_plain`, locked by `protection`, to `out`; return the rows."""
    if protection == "none":
        return write_plain(out)
    if not secret:
        # Never lock a file with a made-up password ("None"): the caller must pass the credential.
        raise DeliveryError(f"file protection {protection} needs its password or key", transient=False)
    if protection == "zip-aes":
        return _zip_aes(str(secret), write_plain, out, member_name)
    if protection == "xlsx-password":
        return _xlsx_password(str(secret), write_plain, out)
    if protection == "pgp":
        return _pgp(str(secret), write_plain, out, armor)
    raise DeliveryError(f"unknown file protection {protection!r}", transient=False)


def _zip_aes(password: str, write_plain: PlainWriter, out: BinaryIO, member_name: str) -> int:
    import pyzipper
    from pyzipper.zipfile_aes import AESZipInfo

    # Streamed: rows are compressed and encrypted as they are written (memory stays flat).
    with pyzipper.AESZipFile(
        ForwardOnly(out), "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        info = AESZipInfo(member_name, FIXED_ZIP_TIME)
        info.compress_type = pyzipper.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with archive.open(info, "w", force_zip64=True) as member:
            return write_plain(member)


def _xlsx_password(password: str, write_plain: PlainWriter, out: BinaryIO) -> int:
    from msoffcrypto.format.ooxml import OOXMLFile

    # msoffcrypto encrypts a whole workbook at once (the OLE container needs its size), so
    # the plain xlsx goes to a temporary file first; an xlsx is capped at ~1M rows anyway.
    with tempfile.TemporaryFile() as plain:
        rows = write_plain(plain)
        plain.seek(0)
        OOXMLFile(plain).encrypt(password, out)
    return rows


def _pgp(public_key: str, write_plain: PlainWriter, out: BinaryIO, armor: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="bm-pgp-") as work:
        plain_path = os.path.join(work, "plain")
        sealed_path = os.path.join(work, "sealed")
        with open(plain_path, "wb") as plain:
            rows = write_plain(plain)
        with _keyring(public_key) as (gpg, usable):
            if not usable:
                raise DeliveryError("the PGP credential holds no key that can encrypt", transient=False)
            # gpg reads and writes files, so memory stays flat whatever the size.
            with open(plain_path, "rb") as plain:
                result = gpg.encrypt_file(  # type: ignore[attr-defined]
                    plain, usable[:1], armor=armor, always_trust=True, output=sealed_path
                )
        if not result.ok:
            raise DeliveryError(f"PGP encryption failed: {result.status}", transient=False)
        with open(sealed_path, "rb") as sealed:
            shutil.copyfileobj(sealed, out, COPY_CHUNK)  # type: ignore[misc]
    return rows
