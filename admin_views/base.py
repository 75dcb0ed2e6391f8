"""What every admin view shares: login and role checks, tenant scoping, per-user columns.

Access control lives here once (the Flask-Admin examples' pattern): a view says the
lowest role it needs, and every query it runs is filtered to the user's enterprise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.model.template import BaseListRowAction, EditRowAction
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from admin_views.filters import Converter
from admin_views.rows import BUTTONS, PageButtons, PageRows
from app.auth.redirects import is_local_path
from app.errors import DomainError
from app.extensions import db
from app.models import Role
from app.services import preferences

PAGE_SIZES = (20, 50, 100)
# The characters werkzeug leaves unescaped in a query string (werkzeug.urls._urlencode, 3.1).
URL_SAFE = "!$'()*,/:;?@"
# Counting stops here: a filter that matches more rows shows "1,000+" and the
# page stays fast however big the tables grow (no COUNT(*) over the whole table).
COUNT_CAP = 1_000


def choices(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Select options as WTForms 3.3 wants them (tuples are deprecated)."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def has_role(role: str) -> bool:
    """True when someone is logged in with at least `role`.

    Remembered for the request (and the user it was asked for): a list page asks it for every
    button of every row, about a hundred times, and each answer went through the current_user proxy.
    """
    if not has_request_context():
        return bool(current_user.is_authenticated and current_user.has_role(role))
    user = g.get("_login_user")  # Flask-Login's user of this request, once loaded
    cached = request.environ.get("bm.roles")
    if cached is None or user is None or cached[0] is not user:
        cached = (user, {})
        if user is not None:
            request.environ["bm.roles"] = cached
    answers = cached[1]
    if role not in answers:
        answers[role] = bool(current_user.is_authenticated and current_user.has_role(role))
    return answers[role]


class SecuredMixin:
    """Login required; `required_role` (viewer, manager, admin) to see the view at all."""

    required_role: str = Role.VIEWER.value

    def is_accessible(self) -> bool:
        return has_role(self.required_role)

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)


def require_role(role: str) -> None:
    """Abort with 403 unless the current user has `role` (checked inside actions)."""
    if not has_role(role):
        abort(403)


def flash_error(exc: DomainError) -> None:
    """Show a domain error the way a person reads it: one sentence, details that add something."""
    message = exc.message.strip()
    parts = []
    if isinstance(exc.details, dict):
        for key, value in exc.details.items():
            texts = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            # A detail that only repeats the message ("choose at least one column") says nothing new.
            texts = [t for t in texts if t.strip().lower() != message.lower()]
            if texts:
                parts.append(f"{key}: {', '.join(texts)}")
    detail = f" ({'; '.join(parts)})" if parts else ""
    sentence = f"{message[:1].upper()}{message[1:]}{detail}"
    flash(sentence if sentence.endswith((".", "?", "!")) else sentence + ".", "error")


class SecuredIndexView(SecuredMixin, AdminIndexView):
    """The admin home page, behind login like every view (admin_views/dashboard.py draws it)."""


class SecuredView(SecuredMixin, BaseView):
    """A plain admin page behind login."""


class CappedCount:
    """Stands in for Flask-Admin's count query: same filters and joins, bounded count.

    Flask-Admin calls .filter()/.join()/.outerjoin() on the count query and then
    .scalar(); each call is forwarded to the real query and the result wrapped again.
    Relies on ModelView.get_list of Flask-Admin 2.2.1 using the count query only that way
    (canary: tests/test_flask_admin_canary.py).
    """

    def __init__(self, query: Any, cap: int | None = None, key: Any = None) -> None:
        self._query = query
        self._cap = COUNT_CAP if cap is None else cap
        self._key = key

    def __getattr__(self, name: str):
        attr = getattr(self._query, name)

        def call(*args: Any, **kwargs: Any) -> CappedCount:
            return CappedCount(attr(*args, **kwargs), self._cap, self._key)

        return call

    def scalar(self) -> int:
        query = self._query
        if self._key is not None:
            # In key order the count stops after cap + 1 rows walked along the primary key (or
            # a trigram index when few match); unordered, PostgreSQL chose a name index and
            # discarded 128,000 entries to count 1,001 "Solar" files.
            query = query.order_by(self._key.desc())
        limited = query.limit(self._cap + 1).subquery()
        return int(db.session.scalar(select(func.count()).select_from(limited)) or 0)


class MacroRowAction(BaseListRowAction):
    """A row button of admin_views.rows.BUTTONS (by name: `macro`), shown to `role` and up.

    The list pages draw these in Python for the whole page (admin_views.rows); render() serves
    Flask-Admin's own row loop, for a table that mixes in one of Flask-Admin's row actions.
    """

    def __init__(self, macro: str, title: str, role: str = Role.VIEWER.value) -> None:
        super().__init__(title=title)
        self.macro = macro
        self.role = role

    def render(self, context: Any, row_id: str, row: Any) -> Any:
        # Called by render_ctx(context, row_id, row) from the list template, as in Flask-Admin
        # 2.2.1 (canary: tests/test_flask_admin_canary.py).
        if not has_role(self.role):
            return ""
        return PageButtons([BUTTONS[self.macro]]).html(str(row_id), row)


class TenantModelView(SecuredMixin, ModelView):
    """A list over one enterprise's rows, with per-user columns saved on the server.

    `column_list` is every column the table offers; `default_columns` is what shows
    until the user chooses. Flask-Admin caches `_list_columns` on the view instance,
    which every request (thread) shares, so the per-user list is computed per request
    by the property below and never written to the instance.

    Two Flask-Admin internals are overridden here, as they are in Flask-Admin 2.2.1:
    `_list_columns` (assigned once by `_refresh_cache`, read by `index_view` and
    `_get_column_by_idx`) and `_apply_pagination(query, page, page_size)` (called by
    `get_list`). tests/test_flask_admin_canary.py fails if either changes.
    """

    table_name: str = ""
    default_columns: list[str] = []
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False  # Flask-Admin's export loads every row into memory
    can_view_details = False
    can_set_page_size = True
    named_filter_urls = True  # ?flt0_label_contains=… reads better than ?flt0_4=…
    page_size = PAGE_SIZES[0]
    page_size_options = PAGE_SIZES
    # Deep pages by deferred join (see _apply_pagination); off where the view's rows are few.
    deferred_paging = True
    list_template = "admin/bm/list.html"
    poll_statuses = False
    filter_converter = Converter()

    @property
    def _list_columns(self) -> list[tuple[str, str]]:
        offered = self.__dict__.get("_offered_columns", [])
        if not has_request_context() or not current_user.is_authenticated:
            return [c for c in offered if c[0] in self.default_columns]
        chosen = self.chosen_columns()
        by_name = dict(offered)
        return [(name, by_name[name]) for name in chosen if name in by_name]

    @_list_columns.setter
    def _list_columns(self, value: list[tuple[str, str]]) -> None:
        # Flask-Admin's _refresh_cache assigns the full list once at start-up.
        self.__dict__["_offered_columns"] = list(value)

    def get_url(self, endpoint: str, **kwargs: Any) -> str:
        """The list's own links (every sort, pager and page-size link: ~25 a page) from its path,
        built once a request, plus the query string encoded as url_for encodes it (werkzeug 3.1's
        _urlencode); any other URL through url_for."""
        if (
            endpoint != ".index_view"
            or not has_request_context()
            or any(isinstance(v, list | tuple | dict) for v in kwargs.values())
        ):
            return super().get_url(endpoint, **kwargs)
        # ".index_view" is the request's blueprint's, as url_for reads it.
        paths = request.environ.setdefault("bm.list_paths", {})
        if request.blueprint not in paths:
            paths[request.blueprint] = super().get_url(endpoint)
        path = paths[request.blueprint]
        query = urlencode([(k, v) for k, v in kwargs.items() if v is not None], safe=URL_SAFE)
        return f"{path}?{query}" if query else path

    def get_filter_arg(self, index: int, flt: Any) -> str:
        """Flask-Admin's URL name of a filter, worked out once per filter: a filtered page asks it
        for every pager and sort link (a regex pass and a caught AttributeError each time)."""
        names = self.__dict__.setdefault("_bm_filter_args", {})
        key = (index, flt)
        if key not in names:
            names[key] = super().get_filter_arg(index, flt)
        return names[key]

    def offered_columns(self) -> list[tuple[str, str]]:
        """Every (name, label) this table can show."""
        return list(self.__dict__.get("_offered_columns", []))

    def chosen_columns(self) -> list[str]:
        """The current user's column names (cached for this request only)."""
        # On the request, not on flask.g: an app context can outlive one request.
        cache = request.environ.setdefault("bm.columns", {})
        if self.table_name not in cache:
            cache[self.table_name] = preferences.get_columns(
                current_user.id, self.table_name, [c[0] for c in self.offered_columns()], self.default_columns
            )
        return cache[self.table_name]

    def scope(self) -> list[Any]:
        """The criteria every query of this view carries: the user's enterprise, and more."""
        return [self.model.enterprise_id == current_user.enterprise_id]

    def get_query(self):
        return super().get_query().filter(*self.scope())

    def get_count_query(self):
        return CappedCount(db.session.query(self.model.id).filter(*self.scope()), key=self.model.id)

    def _apply_pagination(self, query, page, page_size):
        """Deep pages by deferred join: skip rows over the ids alone, then load one page.

        Overrides a private hook of Flask-Admin 2.2.1's sqla ModelView (see the class docstring).
        Flask-Admin's OFFSET over full rows reads every skipped row from the table
        (90 ms for page 1,800 of the Sent table at bench scale); the ids come from an
        index that starts with enterprise_id.
        """
        if not page or not self.deferred_paging:
            return super()._apply_pagination(query, page, page_size)
        ids_query = query.with_entities(self.model.id).enable_eagerloads(False)
        ids = [row[0] for row in super()._apply_pagination(ids_query, page, page_size)]
        return query.filter(self.model.id.in_(ids))

    def get_one(self, id: Any) -> Any:
        """This enterprise's row or 404 (Flask-Admin would flash and redirect instead)."""
        try:
            key = int(id)
        except (TypeError, ValueError):
            abort(404)
        obj = self.get_query().filter(self.model.id == key).one_or_none()
        if obj is None:
            abort(404)
        return obj

    get_owned_or_404 = get_one

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("count_cap", COUNT_CAP)
        if template == self.list_template and "data" in kwargs and not kwargs["data"]:
            # Nothing to select: no "With selected" menu and no select-all box on an empty table.
            kwargs["actions"] = []
        if template == self.list_template and "list_row_actions" in kwargs:
            kwargs["bm_rows"] = self.page_rows(kwargs["list_columns"], kwargs["list_row_actions"], kwargs["actions"])
        return super().render(template, **kwargs)

    def page_rows(self, list_columns: list, row_actions: list, actions: list) -> PageRows | None:
        """The page's rows drawn in Python (admin_views.rows), or None when a row action or an
        editable column is Flask-Admin's own (its template draws those rows)."""
        if self.column_editable_list or not all(isinstance(a, MacroRowAction) for a in row_actions):
            return None
        buttons = [BUTTONS[a.macro] for a in row_actions if has_role(a.role)]
        return PageRows(self, list_columns, buttons, bool(actions))

    def get_list_row_actions(self) -> list:
        # Flask-Admin's Edit is an icon alone; ours says "Edit" like every other row button.
        return [
            MacroRowAction("edit_row", "Edit") if isinstance(action, EditRowAction) else action
            for action in super().get_list_row_actions()
        ]

    # Columns: save and reset (POST with CSRF, like every state change).
    @expose("/columns", methods=("POST",))
    def save_columns_view(self):
        if request.form.get("reset"):
            preferences.reset_columns(current_user.id, self.table_name)
            flash("Columns reset to the default.", "info")
        else:
            try:
                preferences.save_columns(
                    current_user.id,
                    self.table_name,
                    request.form.getlist("columns"),
                    [c[0] for c in self.offered_columns()],
                )
                flash("Columns saved.", "success")
            except DomainError as exc:
                flash_error(exc)
        return redirect(safe_return(request.form.get("url")) or self.get_url(".index_view"))


def safe_return(url: str | None) -> str | None:
    """Only same-site paths: the return URL comes from a form field."""
    return url if is_local_path(url) else None


def preview_paging() -> tuple[int, int]:
    """Page and page size of a lead preview (View pages) from the query string, clamped."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    per_page = request.args.get("per_page", 50, type=int) or 50
    return page, min(max(per_page, 10), 500)
