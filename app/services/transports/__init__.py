"""Delivery transports: one module per method behind one interface (see base.py).

transport = get_transport(integration.delivery_method)
settings = transport.validate_settings(payload)          # API / admin
transport.deliver(source, integration.delivery, secret)  # the send pipeline
"""

from __future__ import annotations

from importlib import import_module

from app.errors import ValidationError
from app.services.transports.base import (
    ConnectionResult,
    DeliveryReceipt,
    DeliverySource,
    Secret,
    Transport,
)

# method -> "module:Class"; modules load on first use so a worker that only
# delivers to SFTP never imports the S3 client stack.
_REGISTRY = {
    "sftp": "app.services.transports.sftp:SftpTransport",
    "email": "app.services.transports.email:EmailTransport",
    "ftp": "app.services.transports.ftp:FtpTransport",
    "s3": "app.services.transports.s3:S3Transport",
    "local": "app.services.transports.local:LocalTransport",
}
METHODS = tuple(_REGISTRY)
_instances: dict[str, Transport] = {}


def get_transport(method: str) -> Transport:
    """The transport for a delivery method; ValidationError (delivery.method) if unknown."""
    if method not in _REGISTRY:
        raise ValidationError(
            "unknown delivery method",
            {"delivery.method": [f"must be one of {', '.join(METHODS)}"]},
        )
    if method not in _instances:
        module_name, class_name = _REGISTRY[method].split(":")
        # Transports are stateless, so one instance per process is enough.
        _instances[method] = getattr(import_module(module_name), class_name)()
    return _instances[method]


__all__ = [
    "METHODS",
    "ConnectionResult",
    "DeliveryReceipt",
    "DeliverySource",
    "Secret",
    "Transport",
    "get_transport",
]
