"""Settings > Erase a person: preview what an erasure touches, then erase on confirmation (admins).

Both steps are POSTs, so the person's email or phone never lands in a URL, a log line or
the browser history.
"""

from __future__ import annotations

from flask import flash, request
from flask_admin import expose
from flask_login import current_user

from admin_views.base import SecuredView, flash_error
from app.errors import Conflict, ValidationError
from app.models import Role
from app.services import erasure

SEARCHES = {"email": "Email", "phone": "Phone", "externalId": "External ID"}


class ErasureView(SecuredView):
    required_role = Role.ADMIN.value

    @expose("/", methods=("GET", "POST"))
    def index(self):
        by = request.form.get("by", "email")
        value = request.form.get("value", "")
        found, done = None, None
        if request.method == "POST":
            try:
                if request.form.get("confirm") == "yes":
                    done = erasure.erase(current_user.enterprise_id, by, value, current_user._get_current_object())
                    flash(
                        f"Erased: {len(done.leads)} lead(s) redacted, "
                        f"{sum(p['entries'] for p in done.pending)} pending entr(ies) removed, "
                        f"{sum(f.action != 'none' for f in done.files)} stored file(s) rewritten or purged.",
                        "success",
                    )
                    value = ""
                else:
                    found = erasure.preview(current_user.enterprise_id, by, value)
            except (ValidationError, Conflict) as exc:
                flash_error(exc)
        return self.render("admin/bm/erasure.html", searches=SEARCHES, by=by, value=value, found=found, done=done)
