"""Who acts: a person (a User) or the system itself (scheduler, reconciler, operator CLI).

Authorisation checks take an actor and fail closed: `None` is never "the system", so a
caller that forgot to pass its user is refused instead of skipping the role and tenant
checks. Work that no person started passes `SYSTEM` explicitly.
"""

from __future__ import annotations

from typing import Final

from app.models import User


class SystemActor:
    """The system: not a person, of no enterprise; audit rows and batches show it as "system"."""

    id: Final = None
    enterprise_id: Final = None
    email: Final = "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemActor()

Actor = User | SystemActor


def is_system(actor: object) -> bool:
    """True only for the one explicit system actor (never for None)."""
    return actor is SYSTEM
