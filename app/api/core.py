"""What every API blueprint shares: bearer auth, roles, tenant lookups, parsing, rate-limit keys."""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any, TypeVar

from flask import Response, current_app, g, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from marshmallow import Schema, fields, missing
from marshmallow import ValidationError as MarshmallowError
from webargs.flaskparser import FlaskParser, is_json_request

from app.api.serialise import dump_many
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import limiter
from app.models import User
from app.services import strict_json
from app.services.accounts import user_for_token
from app.services.listing import Page
from app.services.tenancy import get_owned

T = TypeVar("T")
# Ids are 32-bit on every table a client can name; larger numbers cannot exist and would
# overflow PostgreSQL's integer parameters.
MAX_ID = 2**31 - 1


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages -> {"schedule.cron": [...], "fields.0.header": [...]}."""
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    return {prefix or "_schema": [str(messages)]}


class ApiParser(FlaskParser):
    """webargs parser that reports bad input in the API's own error shape."""

    def load_json(self, req, schema):
        # webargs reads a missing body as {}, which a PATCH (no key required) would take
        # as "change nothing"; the document says a body is required, so it is.
        if not req.get_data(cache=True).strip():
            raise ValidationError("a JSON body is required", {"_schema": ["the request needs a JSON body"]})
        return super().load_json(req, schema)

    def _raw_load_json(self, req):
        # webargs parses bodies with the plain json module; ours refuses NaN, Infinity,
        # out-of-range numbers and lone surrogates with a 422 naming the field.
        if not is_json_request(req):
            return missing
        return strict_json.loads(req.get_data(cache=True))

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        details: dict[str, list[str]] = {}
        for location_messages in error.normalized_messages().values():
            details.update(flatten(location_messages))
        raise ValidationError("invalid request", details)


class ApiBlueprint(Blueprint):
    """A smorest Blueprint whose every view needs a bearer token and speaks the API's errors."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(authenticate)
        self.register_error_handler(RateLimitExceeded, too_many_requests)


def too_many_requests(exc: RateLimitExceeded) -> Response:
    """429 in the API's error shape, with Retry-After from the limit's window."""
    limit = limiter.current_limit
    retry_after = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
    response = jsonify(
        error={"code": "rate_limited", "message": f"rate limit exceeded ({exc.description}); retry later"}
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def authenticate() -> Response | None:
    """Blueprint before_request: a valid bearer token, or 401. Preflights pass without one."""
    if request.method == "OPTIONS":
        # flask-cors adds the CORS headers (for allowed origins only) after this. It would
        # answer a Private Network Access probe with "...-Allow-Private-Network: false";
        # we send no such header at all, so hide the probe from it.
        request.environ.pop("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK", None)
        return Response(status=204)
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    user = user_for_token(raw.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        response = jsonify(
            error={
                "code": "unauthorized",
                "message": "a valid bearer token is required (Authorization: Bearer <token>)",
            }
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="batch-manager"'
        return response
    g.api_user = user
    return None


def current_user() -> User:
    return g.api_user


def require(role: str) -> User:
    """The caller, if their role is at least `role`; Forbidden otherwise."""
    user = current_user()
    if not user.has_role(role):
        raise Forbidden(f"this needs the {role} role or higher")
    return user


def roles(minimum: str):
    """View decorator: check the caller's role before the body is even parsed."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            require(minimum)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def owned(model: type[T], object_id: int) -> T:
    """The caller's enterprise's object, or 404 (another enterprise's object does not exist)."""
    if not 1 <= object_id <= MAX_ID:
        raise NotFound(f"{model.__name__} not found")
    return get_owned(model, object_id, current_user().enterprise_id)


def rate_limit_key() -> str:
    """Rate limits count per token (so per user), falling back to the client address."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        return "token:" + hashlib.sha256(raw.strip().encode()).hexdigest()[:32]
    return "ip:" + (get_remote_address() or "unknown")


def batch_now_limit() -> str:
    return current_app.config["RATELIMIT_BATCH_NOW"]


def intake_limit() -> str:
    return current_app.config["RATELIMIT_INTAKE"]


def load_body(field: fields.Field) -> Any:
    """The JSON body loaded by one field (a body documented as a oneOf), or a ValidationError."""
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationError("a JSON body is required", {"_schema": ["the request needs a JSON body"]})
    try:
        return field.deserialize(body)
    except MarshmallowError as exc:
        raise ValidationError("invalid request", flatten(exc.messages)) from None


def list_args(args: dict) -> dict:
    """The sort and paging query arguments of a list, as the listing services take them."""
    return {"sort": args.get("sort"), "page": args["page"], "per_page": args["perPage"]}


def listing(page: Page, row: type[Schema]) -> Response:
    """A Page as {"data": [...], "meta": {page, perPage, total}}, each row dumped as `row` says;
    meta.totalEstimated (true) is added when the total is the database's estimate."""
    meta = {"page": page.page, "perPage": page.per_page, "total": page.total}
    if page.estimated:
        meta["totalEstimated"] = True
    return jsonify(data=dump_many(row, page.rows), meta=meta)
