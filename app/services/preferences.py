"""Per-user table columns: which columns one user shows in one admin table.

The caller (the admin) says which columns a table offers and which are the default;
this module only validates and stores the choice, so it works for any table.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.errors import ValidationError
from app.extensions import db
from app.models import TablePreference
from app.models.types import utcnow


def get_columns(user_id: int, table: str, offered: Sequence[str], default: Sequence[str]) -> list[str]:
    """The user's columns for `table` in offered order, or `default` when none are saved."""
    saved = db.session.scalar(
        select(TablePreference.columns).where(TablePreference.user_id == user_id, TablePreference.table_name == table)
    )
    if not saved:
        return list(default)
    # Columns a newer release no longer offers are dropped instead of breaking the page.
    chosen = [name for name in offered if name in set(saved)]
    return chosen or list(default)


def save_columns(user_id: int, table: str, columns: Sequence[str], offered: Sequence[str]) -> list[str]:
    """Store the user's choice (at least one offered column); returns it in offered order."""
    unknown = sorted(set(columns) - set(offered))
    if unknown:
        raise ValidationError("unknown columns", {"columns": [f"not offered: {', '.join(unknown)}"]})
    chosen = [name for name in offered if name in set(columns)]
    if not chosen:
        raise ValidationError("choose at least one column", {"columns": ["choose at least one column"]})
    for _attempt in range(2):
        pref = db.session.scalar(
            select(TablePreference).where(TablePreference.user_id == user_id, TablePreference.table_name == table)
        )
        if pref is None:
            db.session.add(TablePreference(user_id=user_id, table_name=table, columns=chosen))
        else:
            pref.columns = chosen
            pref.updated_at = utcnow()
        try:
            db.session.commit()
            return chosen
        except IntegrityError:
            # The same user saved twice at once (two tabs): the second becomes an update.
            db.session.rollback()
    raise ValidationError("could not save columns, try again", {"columns": ["conflict"]})


def reset_columns(user_id: int, table: str) -> None:
    """Forget the user's choice for `table`: the default columns show again."""
    db.session.execute(
        delete(TablePreference).where(TablePreference.user_id == user_id, TablePreference.table_name == table)
    )
    db.session.commit()
