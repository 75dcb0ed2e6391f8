"""Domain errors: one type per kind of failure, mapped to one JSON shape and to flashes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class ValidationError(DomainError):
    status = 422
    code = "validation_error"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class DeliveryError(DomainError):
    """A delivery failed; `transient` says whether retrying later may succeed."""

    status = 502
    code = "delivery_failed"

    def __init__(self, message: str, transient: bool = True, details: Any = None) -> None:
        super().__init__(message, details)
        self.transient = transient
