"""Tenant scoping: every lookup of an enterprise's object goes through here."""

from __future__ import annotations

from typing import TypeVar

from app.errors import NotFound
from app.extensions import db

T = TypeVar("T")


def get_owned(model: type[T], object_id: int | str | None, enterprise_id: int) -> T:
    """The object with this id in this enterprise; NotFound otherwise (never reveal it exists)."""
    try:
        key = int(object_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NotFound(f"{model.__name__} not found") from None
    obj = db.session.get(model, key)
    if obj is None or obj.enterprise_id != enterprise_id:  # type: ignore[attr-defined]
        raise NotFound(f"{model.__name__} {key} not found")
    return obj
