"""Protected files, opened the way the advertiser opens them: 7-Zip for the AES zip, msoffcrypto +
openpyxl for the Excel password, gpg with the private key of a throwaway key pair for PGP. What
the destination received, the download and a resend are the same bytes."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import gnupg
import msoffcrypto
import openpyxl
import pytest

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services import pipeline
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


def _send_download_resend(api, world, count: int = 7) -> tuple[bytes, str]:
    """Batch now, deliver, download, resend: the delivered bytes (all checked identical) and the name."""
    factories.leads(world.a.campaign, count)
    response = api("POST", "/batch-manager-batch-now", {"integrationIds": [world.a.integration.id]})
    batch_id = response.get_json()["data"][0]["batchId"]
    assert pipeline.process_batch(batch_id) == "delivered"
    db.session.expire_all()
    batch = db.session.get(SentBatch, batch_id)
    outbox = Path(db.session.get(BatchCsvIntegration, world.a.integration.id).delivery["directory"])
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
