"""Read-only pages: the registered services and their policies (the live SSO sessions are
the explorer's, ``sessions.py``)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from ...accounts.i18n import N_
from ...protocol.cas.services import RegisteredService
from ...runtime.container import container
from .blueprint import bp
from .support import console, page

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
