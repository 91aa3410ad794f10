"""Read-only pages: the registered services and their policies; live SSO sessions."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from ...accounts.i18n import N_
from ...admin import admin
from ...protocol.cas.services import RegisteredService
from ...runtime.container import container
from ...storage.sql.console import session_counts
from ...storage.sql.tickets import SqlTicketRegistry
from .blueprint import bp
from .support import console, page, page_number

# Descriptions the server writes itself (web/console_auth.py internal_service), in
# English: translated where they are shown. A service file's description is the
# deployment's own words, shown as written.
BUILT_IN_DESCRIPTIONS = frozenset({N_("Built in: profile and administration pages")})


def description(service: RegisteredService) -> str:
    text = service.description or ""
    return gettext(text) if text in BUILT_IN_DESCRIPTIONS else text


@bp.get("/services")
@console()
def services() -> Any:
    return page("services", services=list(container().services), description=description)


@bp.get("/sessions")
@console()
def sessions() -> Any:
    c = container()
    per_page = admin().settings.page_size
    store: Any = c.tickets
    while not isinstance(store, SqlTicketRegistry) and hasattr(store, "store"):
        store = store.store  # unwrap decorators (metrics)
    if not isinstance(store, SqlTicketRegistry):
        return page("sessions", available=False)
    rows, principals, total = session_counts(
        store.engine, c.clock.now(), per_page, (page_number() - 1) * per_page
    )
    accounts = {login: c.accounts.find_by_login(login) for login, _ in rows}
    pages = max(1, -(-principals // per_page))
    return page(
        "sessions",
        available=True,
        rows=rows,
        accounts=accounts,
        principals=principals,
        total=total,
        page_no=min(page_number(), pages),
        pages=pages,
    )
