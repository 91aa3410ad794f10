"""The administration console under ``/admin`` (help desk and administrators).

Signed in through CAS like every page of the server (``console_auth``);
``admin`` may do everything, ``helpdesk`` everything but the CSV import and
role management, anyone else gets 403. Every form is CSRF-protected, every
action asks for an explicit confirmation and is written to the audit trail.

| module | pages |
|---|---|
| ``search`` | /admin/ : search accounts |
| ``record`` | /admin/accounts/<uuid> : the record |
| ``actions`` | /admin/accounts/<uuid>/<action> : confirm and do an action |
| ``imports`` | /admin/import : CSV upload, dry run, real run |
| ``trail`` | /admin/audit, /admin/audit.csv |
| ``overview`` | /admin/services |
| ``sessions`` | /admin/sessions : the session explorer; end one, a person's, an address's |
| ``check`` | /admin/check : may this account sign in to that service, and why not |
| ``impersonate`` | /admin/impersonate : sign in as someone (``[sessions] impersonation``) |
| ``gate`` | every page: the second factor ``[admin] require_mfa`` asks for |
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import current_user

from ...accounts.console import may
from ...admin import init_admin
from ...runtime.container import container
from .blueprint import bp
from .support import label, when


@bp.context_processor
def _console_context() -> dict[str, Any]:
    roles = frozenset(current_user.roles) if current_user.is_authenticated else frozenset()
    return {
        "may": lambda what: may(roles, what),
        "label": label,
        "when": when,
        "console_user": current_user.account if current_user.is_authenticated else None,
        "impersonation_enabled": container().sessions_settings.impersonation,  # #15
    }


def init_app(app: Flask) -> None:
    from ...admin.help_requests import init_help_requests
    from . import (  # noqa: F401  (routes)
        actions,
        check,
        impersonate,
        imports,
        overview,
        record,
        registrations,
        search,
        sessions,
        trail,
    )
    from .help_requests import about_account  # noqa: F401  (routes; #16)

    init_admin(app)
    init_help_requests(app)  # #16 (also done by Sésame's init_app: the same object)
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
