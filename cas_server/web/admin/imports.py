"""CSV import (administrators only): upload, dry-run report, confirmation, real run.

The upload limit is ``[admin] import_max_bytes`` for this page only (the
rest of the server keeps its 1 MB); a larger file gets a clear message
before anything is read. The file waits server-side under a random token
between the dry run and the confirmation, and is deleted afterwards.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ...accounts.csv_import import Rejected
from ...accounts.i18n import N_
from ...admin import admin
from ...admin.acting import Refused
from ...admin.imports import discard, run_import, stage, staged
from ...storage.sql.importer import ImportReport
from ..security import csrf
from .blueprint import bp
from .support import Form, actions, console, label, me, page

SHOWN = 500  # lines listed per section of a report
SLACK = 64 * 1024  # the multipart envelope around the file
MB = 1024 * 1024


def _params(params: dict[str, object]) -> dict[str, object]:
    """Column names in the reader's language."""
    out = dict(params)
    if "column" in out:
        out["column"] = label("field", str(out["column"]))
    if "columns" in out:
        out["columns"] = ", ".join(label("field", c) for c in str(out["columns"]).split(", "))
    return out


def reason(rejected: Rejected) -> str:
    return str(gettext(rejected.reason, **_params(dict(rejected.params))))


def _mb(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0")


def _upload_page(form: Form | None = None) -> Any:
    return page("import", form=form, max_mb=_mb(admin().settings.import_max_bytes))


def _report_page(
    report: ImportReport, token: str | None, filename: str, form: Form | None = None
) -> Any:
    return page(
        "import_report",
        form=form,
        report=report,
        token=token,
        filename=filename,
        reason=reason,
        shown=SHOWN,
    )


@bp.get("/import")
@console("import")
def import_form() -> Any:
    return _upload_page()


@bp.post("/import")
@console("import")
def import_upload() -> Any:
    limit = admin().settings.import_max_bytes
    request.max_content_length = limit + SLACK
    form = Form()
    try:
        upload = request.files.get("file")
        csrf.protect()
    except RequestEntityTooLarge:
        size = request.content_length or 0
        form.error(
            "file",
            N_("The file is too large (%(size)s MB; at most %(max)s MB)."),
            size=_mb(size),
            max=_mb(limit),
        )
        return _upload_page(form)
    if upload is None or not upload.filename:
        form.error("file", N_("Choose a CSV file."))
        return _upload_page(form)
    data = upload.read(limit + 1)
    filename = upload.filename[:255]
    try:
        report = run_import(actions(), data, dry_run=True, filename=filename)
    except Refused as exc:
        form.error("file", exc.message, **_params(exc.params))
        return _upload_page(form)
    changes = len(report.created) + len(report.updated)
    token = stage(data, filename, me().login) if changes else None
    return _report_page(report, token, filename)


# The token is checked in the view, once this page's upload limit is set: the global
# check would read the body first, under the server's 1 MB limit.
csrf.exempt(f"{__name__}.import_upload")


@bp.post("/import/confirm")
@console("import")
def import_confirm() -> Any:
    token = request.form.get("token", "")
    kept = staged(token, me().login)
    form = Form()
    if kept is None:
        form.error("file", N_("This import has expired: upload the file again."))
        return _upload_page(form)
    data, filename = kept
    try:
        if not form.confirmed():
            report = run_import(actions(), data, dry_run=True, filename=filename)
            return _report_page(report, token, filename, form)
        report = run_import(actions(), data, dry_run=False, filename=filename)
    except Refused as exc:
        discard(token)
        form.error("file", exc.message, **_params(exc.params))
        return _upload_page(form)
    discard(token)
    return _report_page(report, None, filename)


@bp.post("/import/cancel")
@console("import")
def import_cancel() -> Response:
    discard(request.form.get("token", ""))
    flash(gettext("The import was cancelled; nothing was changed."), "success")
    return redirect(url_for("admin.import_form"), code=303)
