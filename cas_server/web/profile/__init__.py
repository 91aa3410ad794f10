"""The profile page ("Mon compte", PRODUCT.md §3 "Profile / preferences") under ``/profile``.

Signed in through CAS like every page of the server (``console_auth``), with
the SSO session of the browser still alive. Every form is CSRF-protected;
every change asks for the current password, is audited and confirmed by a
mail without any secret. Mail, SMS, tokens and limits are Sésame's.

| module | pages |
|---|---|
| ``overview`` | /profile/ (what is on file), /profile/privacy, /profile/data (JSON export) |
| ``password`` | /profile/password |
| ``channels`` | /profile/email, /profile/mobile and their /verify (code to the new channel) |
| ``joker`` | /profile/joker |
| ``links`` | /profile/links: link another account of the same person, undo a link |
| ``security`` | /profile/security: factors (rename, remove, codes by mail or SMS), recovery codes |
| ``enrol`` | /profile/security/app (TOTP) and /profile/security/key (WebAuthn) |
| ``devices`` | /profile/security/devices: revoke trusted devices |
| ``sessions`` | /profile/sessions: live SSO sessions, end one or all others ("Mes connexions") |
| ``history`` | /profile/sessions/history: sign-ins and security events, paginated |
| ``consents`` | /profile/consents: consents given to SAML services, withdraw one (#18) |
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, url_for
from flask_babel import gettext as _

from ...runtime.container import container
from ...settings.profile import load_profile_settings
from ..security import error_page
from .blueprint import bp
from .runtime import SourceUnavailable, day, make_profile, profile, when


def login_links() -> list[tuple[str, str]]:
    """Under the login form: "Mon compte"."""
    if not profile().settings.enabled:
        return []
    return [(_("My account"), url_for("profile.overview"))]


@bp.before_request
def _enabled() -> None:
    if not profile().settings.enabled:
        abort(404)


@bp.context_processor
def _dates() -> dict[str, Any]:
    return {"when": when, "day": day, "mfa_enabled": container().mfa.rules.enabled}


@bp.errorhandler(SourceUnavailable)
def _unavailable(error: SourceUnavailable) -> tuple[str, int]:
    return error_page(503)


def init_app(app: Flask) -> None:
    from . import (  # noqa: F401  (routes)
        channels,
        consents,
        devices,
        enrol,
        history,
        joker,
        links,
        overview,
        password,
        security,
        sessions,
    )

    with app.app_context():
        c = container()
        settings = load_profile_settings(c.settings.raw, c.settings.languages)
        app.extensions["profile"] = make_profile(settings)
    app.register_blueprint(bp)
    app.extensions.setdefault("cas_login_links", []).append(login_links)

    @app.context_processor
    def _profile_context() -> dict[str, Any]:
        settings = app.extensions["profile"].settings
        return {"profile_enabled": settings.enabled, "profile_settings": settings}


__all__ = ["bp", "init_app"]
