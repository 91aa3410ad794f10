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
BUILT_IN_DESCRIPTIONS = frozenset(
    {
        N_("Built in: profile and administration pages"),
        N_("Built in: SAML 2.0 identity provider"),
        N_("Built in: SAML 2.0 identity provider, second factor required"),
    }
)


def description(service: RegisteredService) -> str:
    text = service.description or ""
    return gettext(text) if text in BUILT_IN_DESCRIPTIONS else text


def saml_providers() -> list[dict[str, str]]:
    """The SAML service providers the metadata sources trust (#18), with their policy."""
    saml = container().saml
    if saml is None:
        return []
    rules = saml.settings.rules
    rows = [
        {
            "entity_id": sp.entity_id,
            "name": sp.name,
            "source": sp.source,
            "policy": rules.describe(sp),
        }
        for sp in saml.service_providers()
    ]
    return sorted(rows, key=lambda r: (r["name"].casefold(), r["entity_id"]))


@bp.get("/services")
@console()
def services() -> Any:
    return page(
        "services",
        services=list(container().services),
        description=description,
        saml_enabled=container().saml is not None,
        saml_providers=saml_providers(),
    )
