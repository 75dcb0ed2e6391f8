"""Protected files, opened the way the advertiser opens them: 7-Zip for the AES zip, msoffcrypto +
openpyxl for the Excel password, gpg with the private key of a throwaway key pair for PGP. What
the destination received, the download and a resend are the same bytes."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import gnupg
import msoffcrypto
import openpyxl
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, Credential, SentBatch
from app.services import credentials, pipeline
from app.services.transports.local import resolve_directory
from tests import factories

PASSWORD = "Spring-Sale-2026!"
SEVEN_ZIP = shutil.which("7z")  # `make test` runs scripts/ensure-debian-tools, which installs Debian's p7zip-full


@pytest.fixture
def api(client, world):
    headers = {"Authorization": f"Bearer {world.a.tokens['admin']}"}

    def call(method: str, path: str, json=None):
        return client.open(f"/api/v4{path}", method=method, json=json, headers=headers)

    return call


@pytest.fixture(scope="module")
def key_pair():
    """A throwaway OpenPGP key pair: (public key text, GnuPG home holding the private key)."""
    # A short path: gpg-agent's socket lives in the home and socket paths are limited to ~100 bytes.
    home = tempfile.mkdtemp(prefix="bmk-")
    gpg = gnupg.GPG(gnupghome=home)
    params = gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        subkey_type="ECDH",
        subkey_curve="cv25519",
        name_email="advertiser@example.com",
        no_protection=True,
    )
    key = gpg.gen_key(params)
    assert key.fingerprint, key.stderr
    yield gpg.export_keys(key.fingerprint), home
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
    shutil.rmtree(home, ignore_errors=True)


def _credential(api, kind: str, secret: str, name: str | None = None) -> int:
    response = api("POST", "/credentials", {"name": name or kind, "kind": kind, "secret": secret})
    assert response.status_code == 201, response.get_json()
    assert secret not in response.get_data(as_text=True)
    return response.get_json()["data"]["id"]


def _protect(api, integration_id: int, **file_settings):
    return api("PATCH", f"/batch-integrations/{integration_id}", {"file": file_settings})


def _outbox(world) -> Path:
    """The folder enterprise A's integration delivers to (inside its enterprise's delivery root)."""
    integration = db.session.get(BatchCsvIntegration, world.a.integration.id)
    return resolve_directory(integration.enterprise_id, integration.delivery["directory"])


def _send_download_resend(api, world, count: int = 7) -> tuple[bytes, str]:
    """Batch now, deliver, download, resend: the delivered bytes (all checked identical) and the name."""
    factories.leads(world.a.campaign, count)
    response = api("POST", "/batch-manager-batch-now", {"integrationIds": [world.a.integration.id]})
    batch_id = response.get_json()["data"][0]["batchId"]
    assert pipeline.process_batch(batch_id) == "delivered"
    db.session.expire_all()
    batch = db.session.get(SentBatch, batch_id)
    outbox = _outbox(world)
    delivered = (outbox / batch.file_name).read_bytes()
    downloaded = api("GET", f"/campaign-lead-batches/{batch_id}/download")
    assert downloaded.status_code == 200
    assert downloaded.data == delivered
    assert batch.size_bytes == len(delivered)
    (outbox / batch.file_name).unlink()
    resend = api("POST", f"/campaign-lead-batches/{batch_id}/resend").get_json()["data"]
    assert pipeline.process_batch(resend["id"]) == "delivered"
    assert (outbox / batch.file_name).read_bytes() == delivered
    assert api("GET", f"/campaign-lead-batches/{resend['id']}/download").data == delivered
    return delivered, batch.file_name


def _seven_zip(archive: Path, password: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SEVEN_ZIP, "x", f"-p{password}", f"-o{out}", "-y", str(archive)], capture_output=True, text=True
    )


@pytest.mark.skipif(SEVEN_ZIP is None, reason="7z missing: run scripts/ensure-debian-tools 7z:p7zip-full")
def test_aes_zip_opens_in_7zip_with_the_password_only(api, world, tmp_path):
    credential_id = _credential(api, "file_password", PASSWORD)
    response = _protect(api, world.a.integration.id, protection="zip-aes", protectionCredentialId=credential_id)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["file"]["protection"] == "zip-aes"
    data, name = _send_download_resend(api, world)
    assert name.endswith(".csv.zip")
    archive = tmp_path / name
    archive.write_bytes(data)

    listing = subprocess.run([SEVEN_ZIP, "l", "-slt", str(archive)], capture_output=True, text=True)
    assert "Method = AES-256" in listing.stdout
    refused = _seven_zip(archive, "wrong-password", tmp_path / "wrong")
    assert refused.returncode != 0
    assert "Wrong password" in refused.stdout + refused.stderr
    opened = _seven_zip(archive, PASSWORD, tmp_path / "right")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    [member] = list((tmp_path / "right").iterdir())
    assert member.name == name.removesuffix(".zip")
    lines = member.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and "person0@example.com" in "\n".join(lines)


def test_xlsx_password_opens_with_msoffcrypto_and_openpyxl(api, world):
    credential_id = _credential(api, "file_password", PASSWORD)
    response = _protect(
        api, world.a.integration.id, format="xlsx", protection="xlsx-password", protectionCredentialId=credential_id
    )
    assert response.status_code == 200, response.get_json()
    data, name = _send_download_resend(api, world, count=5)
    assert name.endswith(".xlsx")
    # Unprotected, an xlsx is a zip; Office encryption wraps it in an OLE container.
    assert not data.startswith(b"PK") and data.startswith(b"\xd0\xcf\x11\xe0")
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    assert office.is_encrypted()
    office.load_key(password="wrong-password")
    with pytest.raises(msoffcrypto.exceptions.InvalidKeyError):
        office.decrypt(io.BytesIO())
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=PASSWORD)
    plain = io.BytesIO()
    office.decrypt(plain)
    rows = list(openpyxl.load_workbook(plain).active.iter_rows(values_only=True))
    assert len(rows) == 6
    assert any("person4@example.com" in map(str, row) for row in rows)


@pytest.mark.parametrize(("armor", "suffix"), [(True, ".csv.asc"), (False, ".csv.pgp")])
def test_pgp_file_decrypts_with_the_advertisers_private_key(api, world, key_pair, tmp_path, armor, suffix):
    public_key, home = key_pair
    credential_id = _credential(api, "pgp_public_key", public_key)
    response = _protect(
        api, world.a.integration.id, protection="pgp", protectionCredentialId=credential_id, pgpArmor=armor
    )
    assert response.status_code == 200, response.get_json()
    data, name = _send_download_resend(api, world)
    assert name.endswith(suffix)
    assert data.startswith(b"-----BEGIN PGP MESSAGE-----") is armor
    sealed = tmp_path / name
    sealed.write_bytes(data)
    result = subprocess.run(
        ["gpg", "--homedir", home, "--batch", "--quiet", "--decrypt", str(sealed)], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 8 and "person6@example.com" in lines[-1]
    # Without the private key there is nothing to read.
    empty_home = tempfile.mkdtemp(prefix="bme-")
    try:
        refused = subprocess.run(
            ["gpg", "--homedir", empty_home, "--batch", "--decrypt", str(sealed)], capture_output=True
        )
        assert refused.returncode != 0 and b"person" not in refused.stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", empty_home, "--kill", "gpg-agent"], check=False)
        shutil.rmtree(empty_home, ignore_errors=True)


def test_protection_settings_are_validated(api, world, key_pair):
    integration_id = world.a.integration.id
    password_id = _credential(api, "file_password", PASSWORD)
    pgp_id = _credential(api, "pgp_public_key", key_pair[0])
    cases = [
        ({"protection": "rot13"}, "file.protection"),
        ({"protection": "xlsx-password", "protectionCredentialId": password_id}, "file.protection"),
        ({"protection": "zip-aes", "protectionCredentialId": password_id, "compression": "gzip"}, "file.compression"),
        ({"protection": "zip-aes"}, "file.protectionCredentialId"),
        ({"protection": "zip-aes", "protectionCredentialId": pgp_id}, "file.protectionCredentialId"),
        ({"protection": "pgp", "protectionCredentialId": password_id}, "file.protectionCredentialId"),
        ({"protection": "none", "protectionCredentialId": password_id}, "file.protectionCredentialId"),
        ({"protection": "pgp", "protectionCredentialId": pgp_id, "pgpArmor": None}, "file.pgpArmor"),
    ]
    for settings, field in cases:
        response = _protect(api, integration_id, **settings)
        assert response.status_code == 422, (settings, response.get_json())
        assert field in response.get_json()["error"]["details"], (settings, response.get_json())
    # Another enterprise's credential does not exist for this one.
    foreign_id = credentials.create_credential(world.b.enterprise.id, "B zip", "file_password", PASSWORD).id
    response = _protect(api, integration_id, protection="zip-aes", protectionCredentialId=foreign_id)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["file.protectionCredentialId"] == [
        f"unknown credential {foreign_id}"
    ]
    db.session.expire_all()
    saved = db.session.get(BatchCsvIntegration, integration_id)
    assert (saved.protection, saved.protection_credential_id) == ("none", None)  # nothing half-written


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("not a key", "not an OpenPGP public key"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nxyz\n-----END PGP PRIVATE KEY BLOCK-----", "private key"),
        ("", "public key"),
        ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\u023a\n", "ASCII"),
    ],
)
def test_pgp_credential_must_be_a_public_key_that_parses(api, secret, problem):
    response = api("POST", "/credentials", {"name": "Advertiser key", "kind": "pgp_public_key", "secret": secret})
    assert response.status_code == 422, response.get_json()
    assert problem in " ".join(response.get_json()["error"]["details"]["secret"])
    assert api("GET", "/credentials").get_json()["data"] == []


def test_a_protected_file_whose_credential_changed_kind_fails_without_sending(api, world):
    """Checked again when the file is built: a send never goes out unprotected."""
    credential_id = _credential(api, "file_password", PASSWORD)
    assert (
        _protect(api, world.a.integration.id, protection="zip-aes", protectionCredentialId=credential_id).status_code
        == 200
    )
    db.session.get(Credential, credential_id).kind = "password"
    db.session.commit()
    factories.leads(world.a.campaign, 3)
    response = api("POST", "/batch-manager-batch-now", {"integrationIds": [world.a.integration.id]})
    batch_id = response.get_json()["data"][0]["batchId"]
    assert pipeline.process_batch(batch_id) == "failed"
    batch = db.session.get(SentBatch, batch_id)
    assert "needs a credential of kind file_password" in batch.last_error
    outbox = _outbox(world)
    assert not outbox.exists() or not any(outbox.iterdir())


def test_admin_credential_and_configure_form_offer_protection(app, client, world, key_pair):
    from tests.admin_support import login
    from tests.test_admin_config import _form

    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    public_key = key_pair[0]
    response = client.post(
        "/admin/credentials/new/", data={"name": "Advertiser PGP", "kind": "pgp_public_key", "public_key": public_key}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    client.post("/admin/credentials/new/", data={"name": "Zip pw", "kind": "file_password", "password": PASSWORD})
    pgp = db.session.scalar(select(Credential).where(Credential.name == "Advertiser PGP"))
    zip_pw = db.session.scalar(select(Credential).where(Credential.name == "Zip pw"))
    # Write-only: neither the key nor the password shows on the list or the edit page.
    for path in ("/admin/credentials/", f"/admin/credentials/edit/?id={pgp.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Advertiser PGP" in page and public_key.splitlines()[2] not in page and PASSWORD not in page

    page = client.get("/admin/integrations/new/").get_data(as_text=True)
    assert "ZIP with password (AES-256)" in page and f'value="{pgp.id}"' in page
    refused = client.post(
        "/admin/integrations/new/",
        data=_form(world, compression="none", protection="xlsx-password", protection_credential_id=str(zip_pw.id)),
    )
    assert refused.status_code == 200
    assert "xlsx-password needs the xlsx format" in refused.get_data(as_text=True)
    saved = client.post(
        "/admin/integrations/new/",
        data=_form(world, protection="pgp", protection_credential_id=str(pgp.id), pgp_armor=None),
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    integration = db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Partner SFTP feed"))
    assert (integration.protection, integration.protection_credential_id, integration.pgp_armor) == (
        "pgp",
        pgp.id,
        False,
    )
    edit = client.get(f"/admin/integrations/edit/?id={integration.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{pgp.id}">|<option value="{pgp.id}" selected', edit)


@pytest.mark.skipif(SEVEN_ZIP is None, reason="7z missing: run scripts/ensure-debian-tools 7z:p7zip-full")
def test_preview_file_is_locked_like_the_send(api, world, tmp_path):
    """Download preview builds what a send would deliver: the same protection, never a plain copy."""
    credential_id = _credential(api, "file_password", PASSWORD)
    assert (
        _protect(api, world.a.integration.id, protection="zip-aes", protectionCredentialId=credential_id).status_code
        == 200
    )
    factories.leads(world.a.campaign, 4)
    response = api("GET", f"/batch-manager/{world.a.integration.id}/preview-file")
    assert response.status_code == 200
    name = response.headers["Content-Disposition"].split('filename="')[1].split('"')[0]
    assert name.endswith(".csv.zip") and response.headers["Content-Type"] == "application/zip"
    archive = tmp_path / name
    archive.write_bytes(response.data)
    assert _seven_zip(archive, "wrong-password", tmp_path / "wrong").returncode != 0
    assert _seven_zip(archive, PASSWORD, tmp_path / "right").returncode == 0
    [member] = list((tmp_path / "right").iterdir())
    assert len(member.read_text().splitlines()) == 5


def test_openapi_document_states_the_protection_settings(client):
    doc = client.get("/api/v4/openapi.json").json
    schemas = doc["components"]["schemas"]
    file_in = schemas["File"]["properties"]
    assert file_in["protection"]["enum"] == ["none", "zip-aes", "xlsx-password", "pgp"]
    assert file_in["pgpArmor"]["type"] == "boolean" and "protectionCredentialId" in file_in
    assert {"protection", "protectionCredentialId", "pgpArmor"} <= set(schemas["FileOut"]["required"])
    pgp = schemas["PgpPublicKeyCredential"]["properties"]
    assert pgp["kind"]["enum"] == ["pgp_public_key"] and "public key" in pgp["secret"]["description"]
    assert schemas["FilePasswordCredential"]["properties"]["secret"]["maxLength"] == 1024


@pytest.mark.skipif(SEVEN_ZIP is None, reason="7z missing: run scripts/ensure-debian-tools 7z:p7zip-full")
def test_erasure_rebuilds_a_protected_file_still_locked(api, world, tmp_path):
    credential_id = _credential(api, "file_password", PASSWORD)
    assert (
        _protect(api, world.a.integration.id, protection="zip-aes", protectionCredentialId=credential_id).status_code
        == 200
    )
    _data, name = _send_download_resend(api, world)
    erased = api("POST", "/erasures", {"by": "email", "value": "person3@example.com", "confirm": True})
    assert erased.status_code == 200, erased.get_json()
    assert [f["action"] for f in erased.get_json()["data"]["files"]] == ["rewrite"]
    batch_id = erased.get_json()["data"]["files"][0]["fileId"]
    archive = tmp_path / name
    archive.write_bytes(api("GET", f"/campaign-lead-batches/{batch_id}/download").data)
    assert _seven_zip(archive, "wrong-password", tmp_path / "wrong").returncode != 0
    assert _seven_zip(archive, PASSWORD, tmp_path / "right").returncode == 0
    [member] = list((tmp_path / "right").iterdir())
    text = member.read_text()
    assert len(text.splitlines()) == 7 and "person3@" not in text and "person4@" in text


def test_erasure_purges_a_protected_file_it_cannot_lock_again(api, world):
    credential_id = _credential(api, "file_password", PASSWORD)
    assert (
        _protect(api, world.a.integration.id, protection="zip-aes", protectionCredentialId=credential_id).status_code
        == 200
    )
    _send_download_resend(api, world)
    db.session.get(Credential, credential_id).kind = "password"  # the password is no longer a file password
    db.session.commit()
    shown = api("POST", "/erasures/preview", {"by": "email", "value": "person3@example.com"}).get_json()["data"]
    assert [(f["action"], f["reason"]) for f in shown["files"]] == [
        ("purge", "the file is protected and its password or key is gone, so it cannot be rebuilt")
    ]
