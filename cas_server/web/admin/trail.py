"""The audit trail: filter by account, action and dates; page through it; export it as CSV.

The page shows each action and outcome by its translated label (web/labels.py); the
codes stay the filter's values and the CSV export's cells, for scripts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Response, request, stream_with_context

from ...accounts.console import AuditFilter
from ...accounts.i18n import N_
from ...accounts.model import normalize_login
from ...admin import admin
from ...runtime.container import container
from ..labels import sort_key
from .audit_labels import audit_action_label
from .blueprint import bp
from .support import Form, actions, console, page, page_number

COLUMNS = ("at", "action", "outcome", "login", "account_uuid", "actor", "ip", "details")


# The filter's dates as the page's hint says them, day/month/year (also with "-" or
# "."), and year-month-day, as links made before the hint said so.
_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_YEAR_FIRST = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _date(form: Form, name: str) -> date | None:
    text = request.args.get(name, "").strip()[:10]
    form.values[name] = text
    if not text:
        return None
    if match := _DAY_FIRST.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
    elif match := _YEAR_FIRST.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    else:
        day = month = year = 0
    try:
        return date(year, month, day)
    except ValueError:
        form.error(name, N_("Enter a date such as 01/09/2026."))
        return None


def read_filter() -> tuple[AuditFilter, Form]:
    form = Form()
    login = normalize_login(request.args.get("login", ""))[:128]
    action = request.args.get("action", "").strip()[:64]
    form.values.update(login=login, action=action)
    since, until = _date(form, "since"), _date(form, "until")
    if since and until and until < since:
        form.error("until", N_("The end date is before the start date."))
    account = container().accounts.find_by_login(login) if login else None
    return (
        AuditFilter(
            login=account.login if account else (login or None),
            account_uuid=account.uuid if account else None,
            action=action or None,
            since=since,
            until=until,
        ),
        form,
    )


@bp.get("/audit")
@console()
def audit() -> Any:
    f, form = read_filter()
    settings = admin().settings
    events, total = (
        admin().store.audit_page(f, page_number(), settings.page_size) if form.ok else ([], 0)
    )
    pages = max(1, -(-total // settings.page_size))
    return page(
        "audit",
        form=form,
        events=events,
        total=total,
        page_no=min(page_number(), pages),
        pages=pages,
        actions_known=_action_choices(),
        retention=settings.audit_retention_days,
        args={k: v for k, v in form.values.items() if v},
    )


def _action_choices() -> list[tuple[str, str]]:
    """The filter's options: the code as the value (as in the CSV), the label shown,
    in the label's alphabetical order."""
    choices = [(code, audit_action_label(code)) for code in admin().store.audit_actions()]
    return sorted(choices, key=lambda choice: sort_key(choice[1]))


def _cell(value: str) -> str:
    """No formula in a spreadsheet: a typed login such as ``=HYPERLINK(…)`` stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(events: Iterator[Any]) -> Iterator[str]:
    """The CSV text, line by line (UTF-8 with a BOM, so spreadsheets read the accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    yield "\ufeff"
    writer.writerow(COLUMNS)
    for event in events:
        writer.writerow(
            _cell(str(value))
            for value in [
                event.at.isoformat(timespec="seconds"),
                event.action,
                event.outcome,
                event.login or "",
                event.account_uuid or "",
                event.actor or "",
                event.ip or "",
                "; ".join(f"{k}={v}" for k, v in sorted(event.details.items())),
            ]
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/audit.csv")
@console()
def audit_csv() -> Any:
    f, form = read_filter()
    if not form.ok:
        return audit()
    actions().audit(
        "audit_export",
        "success",
        None,
        filter={k: str(v) for k, v in vars(f).items() if v},
    )
    lines = csv_lines(admin().store.audit_events(f))
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
