"""S3-compatible bucket delivery (fsspec / s3fs): one object per file, replaced on re-delivery.

An S3 object only appears once its upload completes, so no temporary name is
needed; an upload that fails midway is aborted and leaves nothing behind.
"""

from __future__ import annotations

import re
import secrets
import shutil
from urllib.parse import urlsplit

from app.errors import DeliveryError
from app.services import egress
from app.services.transports.base import (
    DeliveryReceipt,
    DeliverySource,
    Secret,
    SettingsErrors,
    Transport,
    delivery_timeout,
    network_error,
    plain_file_name,
)

BLOCK_SIZE = 8 * 1024 * 1024  # multipart part size: bounded memory, above S3's 5 MB minimum
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{2,40}$")


class S3Transport(Transport):
    method = "s3"
    label = "S3"
    credential_kinds = ("s3_keys",)

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("bucket", "prefix", "endpointUrl", "region"))
        bucket = errors.text("bucket", max_length=63)
        if bucket and not _BUCKET.match(bucket):
            errors.add("bucket", "3-63 lowercase letters, digits, dots or hyphens")
        prefix = errors.text("prefix", required=False, max_length=900).strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            errors.add("prefix", "must not contain empty, '.' or '..' segments")
        endpoint = errors.text("endpointUrl", required=False, max_length=500)
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                errors.add("endpointUrl", "must be an http:// or https:// URL")
        region = errors.text("region", required=False, default="us-east-1", max_length=40)
        if region and not _REGION.match(region):
            errors.add("region", "not a region name, e.g. eu-west-1")
        errors.raise_if_any()
        return {"bucket": bucket, "prefix": prefix, "endpointUrl": endpoint, "region": region}

    def destinations(self, settings: dict) -> list[tuple[str, str, int]]:
        # Without an endpoint the client talks to AWS's own names, checked when connecting.
        return [("endpointUrl", *_endpoint_host(settings["endpointUrl"]))] if settings["endpointUrl"] else []

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        self.check_secret(secret)
        path = _object_path(settings, source.file_name)
        where = _where(settings)
        fs = _filesystem(settings, secret)
        try:
            out = fs.open(path, "wb", block_size=BLOCK_SIZE)
            try:
                with source.open() as fh:
                    shutil.copyfileobj(fh, out, BLOCK_SIZE)
            except BaseException:
                # Abort any multipart upload; without this, closing would publish a partial object.
                out.discard()
                out.closed = True
                raise
            out.close()
            # s3fs answers info() from a HEAD of the object: its ContentLength, as the bucket
            # holds it (the pipeline compares it with the stored size).
            fs.invalidate_cache(path)
            remote_size = int(fs.info(path)["size"])
        except Exception as exc:
            raise _s3_error(exc, settings, where) from None
        return DeliveryReceipt(remote=f"s3://{path}", remote_size=remote_size)

    def test_connection(self, settings: dict, secret: Secret | None, enterprise_id: int | None = None):
        def attempt() -> str:
            clean = self.validate_settings(settings)
            where = _where(clean)
            probe = _object_path(clean, f".batch-manager-probe-{secrets.token_hex(4)}")
            fs = _filesystem(clean, secret)
            try:
                fs.pipe_file(probe, b"")
                fs.rm_file(probe)
            except Exception as exc:
                raise _s3_error(exc, clean, where) from None
            return f"Wrote and removed a test object in {where}."

        return self.run_test(attempt, settings, secret)


def _object_path(settings: dict, name: str) -> str:
    prefix = settings["prefix"]
    return f"{settings['bucket']}/{prefix}/{name}" if prefix else f"{settings['bucket']}/{name}"


def _where(settings: dict) -> str:
    location = f"s3://{settings['bucket']}/{settings['prefix']}".rstrip("/")
    return f"{location} at {settings['endpointUrl']}" if settings["endpointUrl"] else location


def _endpoint_host(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _filesystem(settings: dict, secret: Secret | None):
    import s3fs

    from app.services.transports.s3_egress import CheckingResolver

    if settings["endpointUrl"]:
        # Egress policy, second pass: a clear refusal before any client exists. An IP
        # literal is settled here; a name is checked again by the resolver below, which
        # hands the HTTP client only the addresses it checked.
        egress.resolve(*_endpoint_host(settings["endpointUrl"]), what="S3")
    keys = secret.value if secret is not None else {}
    timeout = delivery_timeout()
    fs = s3fs.S3FileSystem(
        key=keys.get("accessKeyId"),
        secret=keys.get("secretAccessKey"),
        token=keys.get("sessionToken"),
        endpoint_url=settings["endpointUrl"] or None,
        client_kwargs={"region_name": settings["region"]},
        # The send job retries with backoff; here one quick attempt keeps failures fast and clear.
        config_kwargs={
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "retries": {"max_attempts": 1, "mode": "standard"},
            "connector_args": {"resolver": CheckingResolver(egress.allowed_networks())},
        },
        # No process-wide cache: each tenant's keys get their own client, and none outlives the send.
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.retries = 1
    return fs


def _s3_error(exc: BaseException, settings: dict, where: str) -> DeliveryError:
    refused = _egress_refusal(exc)
    if refused is not None:
        return refused
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, PermissionError):
        return DeliveryError(
            f"{where} refused access: wrong access key / secret, or the key may not write there",
            transient=False,
        )
    if isinstance(exc, FileNotFoundError):
        return DeliveryError(f"bucket {settings['bucket']!r} does not exist ({where})", transient=False)
    name = type(exc).__name__
    text = f"{name} {exc}".lower()
    if "timeout" in text or "timed out" in text:
        return DeliveryError(f"timed out talking to {where}", transient=True)
    if "connect" in text:
        return DeliveryError(f"cannot connect to {where}", transient=True)
    if isinstance(exc, ConnectionError | TimeoutError):
        return network_error(exc, where, what="S3")
    # Anything else is the server's answer; s3fs puts the server's own message into the
    # error's text, which is never passed on.
    return DeliveryError(f"{where} gave an unexpected reply ({name})", transient=True)


def _egress_refusal(exc: BaseException) -> DeliveryError | None:
    """The resolver's refusal, however deep the HTTP and S3 clients wrapped it."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, egress.EgressRefused):
            return current
        stack.extend([current.__cause__, current.__context__, *getattr(current, "kwargs", {}).values()])
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return None
