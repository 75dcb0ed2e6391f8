"""Advertisers, campaigns, integrations and credentials: create and list, per enterprise."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, Campaign, Credential, Role, User
from app.services import audit
from app.services.actors import Actor, is_system
from app.services.listing import Page, contains, paginate, parse_sort

CAMPAIGN_STATUSES = ("active", "paused", "ended")
MAX_NAME = 200


def _require_admin(user: Actor | None, what: str) -> None:
    # Fails closed: the system passes SYSTEM explicitly, a missing user (None) is refused.
    if is_system(user):
        return
    if not isinstance(user, User) or not user.has_role(Role.ADMIN):
        raise Forbidden(f"only admins can create {what}")


def _name(value: Any, errors: dict[str, list[str]], key: str = "name") -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors[key] = ["required, a non-empty string"]
    elif len(value.strip()) > MAX_NAME or "\x00" in value:
        errors[key] = [f"at most {MAX_NAME} printable characters"]
    else:
        return value.strip()
    return None


def _listed(stmt: Select, sort: str | None, allowed: dict, tiebreak, page: int, per_page: int) -> Page:
    """A page of model objects."""
    rows, total = paginate(stmt, parse_sort(sort, allowed, tiebreak), page, per_page)
    return Page([obj for (obj,) in rows], total, page, per_page)


# -- advertisers -----------------------------------------------------------------------

ADVERTISER_SORT = {"id": Advertiser.id, "name": Advertiser.name, "createdAt": Advertiser.created_at}


def list_advertisers(enterprise_id: int, *, name: str | None = None, sort=None, page=1, per_page=50) -> Page:
    stmt = select(Advertiser).where(Advertiser.enterprise_id == enterprise_id)
    if name:
        stmt = stmt.where(contains(Advertiser.name, name))
    return _listed(stmt, sort, ADVERTISER_SORT, Advertiser.id.asc(), page, per_page)


def create_advertiser(enterprise_id: int, name: Any, user: Actor | None) -> Advertiser:
    """Create an advertiser; admins only; commits."""
    _require_admin(user, "advertisers")
    errors: dict[str, list[str]] = {}
    clean = _name(name, errors)
    if errors:
        raise ValidationError("invalid advertiser", errors)
    advertiser = Advertiser(enterprise_id=enterprise_id, name=clean)
    db.session.add(advertiser)
    db.session.flush()
    audit.record("advertiser.create", "advertiser", advertiser.id, user=user, enterprise_id=enterprise_id)
    db.session.commit()
    return advertiser


# -- campaigns -------------------------------------------------------------------------

CAMPAIGN_SORT = {
    "id": Campaign.id,
    "name": Campaign.name,
    "advertiserId": Campaign.advertiser_id,
    "status": Campaign.status,
    "startDate": Campaign.start_date,
    "endDate": Campaign.end_date,
    "createdAt": Campaign.created_at,
}


def list_campaigns(
    enterprise_id: int,
    *,
    advertiser_id: int | None = None,
    name: str | None = None,
    status: str | None = None,
    sort=None,
    page=1,
    per_page=50,
) -> Page:
    stmt = select(Campaign).where(Campaign.enterprise_id == enterprise_id)
    if advertiser_id is not None:
        stmt = stmt.where(Campaign.advertiser_id == advertiser_id)
    if name:
        stmt = stmt.where(contains(Campaign.name, name))
    if status:
        stmt = stmt.where(Campaign.status == status)
    return _listed(stmt, sort, CAMPAIGN_SORT, Campaign.id.asc(), page, per_page)


def _date(value: Any, key: str, errors: dict[str, list[str]]) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        errors[key] = ["a date, YYYY-MM-DD"]
        return None


def create_campaign(enterprise_id: int, payload: dict, user: Actor | None) -> Campaign:
    """Create a campaign under one of the enterprise's advertisers; admins only; commits."""
    _require_admin(user, "campaigns")
    errors: dict[str, list[str]] = {}
    name = _name(payload.get("name"), errors)
    advertiser_id = payload.get("advertiserId")
    owner = None
    if isinstance(advertiser_id, int) and not isinstance(advertiser_id, bool):
        owner = db.session.scalar(select(Advertiser.enterprise_id).where(Advertiser.id == advertiser_id))
    if owner != enterprise_id:
        errors["advertiserId"] = [f"unknown advertiser {advertiser_id}"]
    status = payload.get("status", "active")
    if status not in CAMPAIGN_STATUSES:
        errors["status"] = [f"one of {', '.join(CAMPAIGN_STATUSES)}"]
    start = _date(payload.get("startDate"), "startDate", errors)
    end = _date(payload.get("endDate"), "endDate", errors)
    if start and end and end < start:
        errors["endDate"] = ["must not be before startDate"]
    if errors:
        raise ValidationError("invalid campaign", errors)
    campaign = Campaign(
        enterprise_id=enterprise_id,
        advertiser_id=advertiser_id,
        name=name,
        status=status,
        start_date=start,
        end_date=end,
    )
    db.session.add(campaign)
    db.session.flush()
    audit.record("campaign.create", "campaign", campaign.id, user=user, enterprise_id=enterprise_id)
    db.session.commit()
    return campaign


# -- integrations and credentials ------------------------------------------------------

INTEGRATION_SORT = {
    "id": BatchCsvIntegration.id,
    "label": BatchCsvIntegration.label,
    "campaignId": BatchCsvIntegration.campaign_id,
    "enabled": BatchCsvIntegration.enabled,
    "pendingCount": BatchCsvIntegration.pending_count,
    "nextRunAt": BatchCsvIntegration.next_run_at,
    "createdAt": BatchCsvIntegration.created_at,
}


def list_integrations(
    enterprise_id: int,
    *,
    campaign_id: int | None = None,
    label: str | None = None,
    enabled: bool | None = None,
    sort=None,
    page=1,
    per_page=50,
) -> Page:
    # The API shows each integration's advertiser: load the page's campaigns in one query.
    stmt = (
        select(BatchCsvIntegration)
        .where(BatchCsvIntegration.enterprise_id == enterprise_id)
        .options(selectinload(BatchCsvIntegration.campaign))
    )
    if campaign_id is not None:
        stmt = stmt.where(BatchCsvIntegration.campaign_id == campaign_id)
    if label:
        stmt = stmt.where(contains(BatchCsvIntegration.label, label))
    if enabled is not None:
        stmt = stmt.where(BatchCsvIntegration.enabled == enabled)
    return _listed(stmt, sort, INTEGRATION_SORT, BatchCsvIntegration.id.asc(), page, per_page)


CREDENTIAL_SORT = {
    "id": Credential.id,
    "name": Credential.name,
    "kind": Credential.kind,
    "createdAt": Credential.created_at,
}


def list_credentials(enterprise_id: int, *, sort=None, page=1, per_page=50) -> Page:
    stmt = select(Credential).where(Credential.enterprise_id == enterprise_id)
    return _listed(stmt, sort, CREDENTIAL_SORT, Credential.id.asc(), page, per_page)
