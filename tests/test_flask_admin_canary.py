"""Canaries for the Flask-Admin internals we override or read, verified against Flask-Admin 2.2.1.

Each test names one private hook (its user carries a comment naming the version it matches) and
fails when an upgrade changes it: re-check that override before moving the pin in requirements.txt.
Signatures and call sites are read with `inspect`/`ast`, behaviour through a real view and database.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
from flask_admin.contrib.sqla import ModelView
from flask_admin.model.base import BaseModelView
from flask_admin.model.template import BaseListRowAction
from flask_login import login_user
from jinja2 import nodes

import admin_views.base
from app.services import preferences
from tests import factories

TEMPLATES = Path(__file__).resolve().parents[1] / "app" / "templates"


def _admin_view(app, endpoint: str):
    """The registered view, found the way bench/ finds it: Admin._views (a private list)."""
    for admin in app.extensions["admin"]:
        for view in admin._views:
            if view.endpoint == endpoint:
                return view
    raise LookupError(endpoint)


def _calls(func, name: str) -> list[ast.Call]:
    """Every call of `self.<name>(...)` in a function's source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    ]


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


# --- Admin._views, ModelView._filter_args, ModelView._list_columns: read by bench/tables.py and bench/baseline.py


def test_admin_keeps_its_views_in_the_private_views_list(app):
    admins = app.extensions["admin"]
    assert isinstance(admins, list)
    endpoints = {view.endpoint for admin in admins for view in admin._views}
    assert {"pending_batches", "sent_batches"} <= endpoints


def test_filter_args_map_each_named_filter_url_to_its_filter(app):
    """bench/tables.py turns `advertiser_name_contains` into the URL argument `flt0_advertiser_name_contains`."""
    view = _admin_view(app, "pending_batches")
    index, flt = view._filter_args["advertiser_name_contains"]
    assert view._filters[index] is flt
    assert view.get_filter_arg(index, flt) == "advertiser_name_contains"
    assert "campaign_name_contains" in _admin_view(app, "sent_batches")._filter_args


def test_string_filters_come_from_the_converters_strings_tuple(app):
    """admin_views.filters.Converter swaps FilterLike out of FilterConverter.strings: the "contains"
    filters of every string column must then be NameContains."""
    from admin_views.filters import NameContains

    for endpoint, arg in (("sent_batches", "campaign_name_contains"), ("pending_batches", "label_contains")):
        view = _admin_view(app, endpoint)
        assert type(view._filter_args[arg][1]) is NameContains


# --- TenantModelView._list_columns: a per-request property in place of Flask-Admin's cached list


def test_flask_admin_assigns_list_columns_once_at_start_up(app):
    """_refresh_cache writes `self._list_columns = self.get_list_columns()`; our setter keeps it as the offer."""
    assert len(_calls(BaseModelView._refresh_cache, "get_list_columns")) == 1
    assert "self._list_columns = self.get_list_columns()" in inspect.getsource(BaseModelView._refresh_cache)
    view = _admin_view(app, "pending_batches")
    assert view.offered_columns() == view.get_list_columns()
    assert "_list_columns" not in vars(view)  # the property on the class decides what every request sees


def test_list_page_and_sorting_read_list_columns_per_request(app, world):
    """index_view passes `list_columns=self._list_columns`; sort indexes resolve through _get_column_by_idx."""
    (render,) = _calls(BaseModelView.index_view, "render")
    passed = {kw.arg: ast.unparse(kw.value) for kw in render.keywords}
    assert passed["list_columns"] == "self._list_columns"
    assert "self._list_columns[idx]" in inspect.getsource(BaseModelView._get_column_by_idx)

    view = _admin_view(app, "pending_batches")
    offered = [name for name, _ in view.offered_columns()]
    user = world.a.users["viewer"]
    preferences.save_columns(user.id, "pending", ["pending_count", "label"], offered)
    with app.test_request_context("/"):
        login_user(user)
        assert [name for name, _ in view._list_columns] == ["label", "pending_count"]  # offered order
        assert view._get_column_by_idx(0)[0] == "label"  # ?sort=0 sorts by this user's first column


# --- TenantModelView._apply_pagination (deferred join) and CappedCount (the count query proxy)


def _integrations(world, count: int) -> list[int]:
    ids = [world.a.integration.id]
    world.a.integration.pending_count = 3
    for n in range(count - 1):
        ids.append(factories.integration(world.a.campaign, f"Canary {n}", pending_count=3).id)
    return sorted(ids)


def test_get_list_paginates_through_apply_pagination(app, world):
    assert _params(ModelView._apply_pagination) == ["self", "query", "page", "page_size"]
    (call,) = _calls(ModelView.get_list, "_apply_pagination")
    assert [ast.unparse(a) for a in call.args] == ["query", "page", "page_size"]

    ids = _integrations(world, 5)
    view = _admin_view(app, "pending_batches")
    with app.test_request_context("/"):
        login_user(world.a.users["viewer"])
        count, rows = view.get_list(1, "id", False, None, None, page_size=2)
    assert count == 5
    assert [row.id for row in rows] == ids[2:4]


def test_the_count_query_is_filtered_and_then_asked_for_scalar(app, world, monkeypatch):
    """get_list builds the count from get_count_query() with .filter/.join/.outerjoin, then calls .scalar()."""
    source = inspect.getsource(ModelView.get_list)
    assert "count_query = self.get_count_query()" in source
    assert "count_query.scalar()" in source
    monkeypatch.setattr(admin_views.base, "COUNT_CAP", 2)

    _integrations(world, 5)
    other = factories.campaign(factories.advertiser(world.a.enterprise, "Zebra Ads"), "Zebra campaign")
    factories.integration(other, "Zebra feed", pending_count=1)
    view = _admin_view(app, "pending_batches")
    index, _flt = view._filter_args["advertiser_name_contains"]  # a filter through a join
    with app.test_request_context("/"):
        login_user(world.a.users["viewer"])
        capped, rows = view.get_list(0, "id", False, None, None, page_size=20)
        filtered, zebra = view.get_list(0, "id", False, None, [(index, "advertiser_name_contains", "Zebra")])
    assert (capped, len(rows)) == (3, 6)  # counting stopped at COUNT_CAP + 1: the page shows "2+"
    assert (filtered, [row.label for row in zebra]) == (1, ["Zebra feed"])


# --- MacroRowAction.render: row buttons rendered by our macros


def test_row_actions_are_rendered_through_render_ctx():
    assert _params(BaseListRowAction.render) == ["self", "context", "row_id", "row"]
    assert "self.render(context, row_id, row)" in inspect.getsource(BaseListRowAction.render_ctx)


# --- TenantModelView.get_url: the list's own links built from its path and werkzeug's query encoding


@pytest.mark.parametrize("endpoint", ["pending_batches", "sent_batches"])
def test_list_links_are_the_urls_url_for_builds(app, endpoint):
    """Sort, pager and page-size links skip url_for but must stay byte for byte what it gives
    (werkzeug 3.1's _urlencode: None dropped, its safe characters kept, insertion order)."""
    from flask_admin.base import BaseView
    from werkzeug.urls import _urlencode

    assert 'safe="!$\'()*,/:;?@"' in inspect.getsource(_urlencode)
    assert admin_views.base.URL_SAFE == "!$'()*,/:;?@"
    view = _admin_view(app, endpoint)
    asks = [
        {},
        {"page": None, "sort": 3, "desc": 1, "search": "a b&c/é%_?#", "page_size": 50, "flt0_label_contains": "x+y"},
        {"flt1_campaign_name_contains": "^Solar", "flt0_status_equals": "failed", "page_size": 100, "page": 2},
    ]
    with app.test_request_context(view.url + "/"):
        for kwargs in asks:
            assert view.get_url(".index_view", **kwargs) == BaseView.get_url(view, ".index_view", **kwargs)


# --- Our templates: blocks of Flask-Admin's templates we override, macros of theirs we call


def _tree(env, name: str) -> nodes.Template:
    source, _filename, _uptodate = env.loader.get_source(env, name)
    return env.parse(source)


def _parent(tree: nodes.Template, base_template: str) -> str | None:
    extends = next(tree.find_all(nodes.Extends), None)
    if extends is None:
        return None
    if isinstance(extends.template, nodes.Name) and extends.template.name == "admin_base_template":
        return base_template
    assert isinstance(extends.template, nodes.Const), "only literal or admin_base_template parents are checked"
    return extends.template.value


def _inherited_blocks(env, name: str | None, base_template: str) -> set[str]:
    blocks: set[str] = set()
    while name:
        tree = _tree(env, name)
        blocks |= {block.name for block in tree.find_all(nodes.Block)}
        name = _parent(tree, base_template)
    return blocks


@pytest.mark.parametrize("template", sorted(p.name for p in (TEMPLATES / "admin" / "bm").glob("*.html")))
def test_our_templates_override_blocks_and_call_macros_flask_admin_still_has(app, template):
    env = app.jinja_env
    base_template = app.extensions["admin"][0].theme.base_template
    tree = _tree(env, f"admin/bm/{template}")
    parent = _parent(tree, base_template)
    if parent is not None:
        ours = {block.name for block in tree.find_all(nodes.Block)}
        assert ours <= _inherited_blocks(env, parent, base_template), template
    for imported in tree.find_all(nodes.Import):
        if imported.template.value.startswith("admin/bm/"):
            continue
        macros = {m.name: m for m in _tree(env, imported.template.value).find_all(nodes.Macro)}
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Getattr) and getattr(call.node.node, "name", None) == imported.target:
                assert call.node.attr in macros, f"{template}: {imported.template.value} has no {call.node.attr}"
                assert len(call.args) <= len(macros[call.node.attr].args), f"{template}: {call.node.attr}"
