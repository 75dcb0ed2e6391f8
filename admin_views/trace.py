"""Lead trace: "the advertiser says lead X never arrived — where is it?" (every role can read)."""

from __future__ import annotations

from flask import request
from flask_admin import expose
from flask_login import current_user

from admin_views.base import SecuredView
from app.errors import ValidationError
from app.services import lead_trace

SEARCHES = {"externalId": "External ID", "email": "Email", "phone": "Phone"}
PER_PAGE = 50


class LeadTraceView(SecuredView):
    """One search box; the answer lists each matching lead of the user's enterprise."""

    @expose("/")
    def index(self):
        by = request.args.get("by", "externalId")
        value = request.args.get("q", "")
        page = max(1, request.args.get("page", 1, type=int) or 1)
        found, error = None, None
        if value:
            try:
                found = lead_trace.trace(current_user.enterprise_id, by, value, page, PER_PAGE)
            except ValidationError as exc:
                error = f"{exc.message}: {'; '.join(m for ms in (exc.details or {}).values() for m in ms)}"
        return self.render("admin/bm/lead_trace.html", searches=SEARCHES, by=by, value=value, found=found, error=error)
