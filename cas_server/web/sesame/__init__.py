"""Sésame: account activation, forgotten identifier and forgotten password pages.

``init_app`` builds the module's objects (settings, stores, mail outbox,
SMS sender), registers the pages under ``/sesame``, the links under the
login form, and ``/demo/outbox`` (demo mode only).

| module | pages |
|---|---|
| ``activation`` | /sesame/activate…: number + birth date or code, channel proof, the form |
| ``identifier`` | /sesame/identifier…: the identifier mailed, or shown after the joker |
| ``password`` | /sesame/password…: path chooser, joker path, SMS path, new password |
| ``links`` | /sesame/password/email, /temporary, /facts and the pages their mails link to |
| ``registration`` | /sesame/register…: "Créer un compte" (``[registration]``, #16) |
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, abort, url_for
from flask_babel import gettext as _

from ...auth.hashing import dummy_hash
from ...outbound.mail import ConsoleLog, make_outbox
from ...outbound.sms import make_sms_sender
from ...runtime.container import container
from ...runtime.sesame import Sesame, language, make_throttles, sesame
from ...settings.sesame import load_sesame_settings
from ...storage.sql.sesame import SqlSesameStore
from ..security import error_page
from ..theming import render_page
from .blueprint import bp
from .runtime import start_later

demo_bp = Blueprint("sesame_demo", __name__)
URL_RE = re.compile(r"https?://[^\s<>\"']+")


def login_links() -> list[tuple[str, str]]:
    """Under the login form: "Mot de passe oublié ?", "Activer mon compte"…"""
    settings = sesame().settings
    if not settings.enabled:
        return []
    links = []
    if any(settings.path_enabled(p) for p in settings.password_paths):
        links.append((_("Forgotten password?"), url_for("sesame.password")))
    if settings.activation:
        links.append((_("Activate my account"), url_for("sesame.activate")))
    if settings.identifier_recovery:
        links.append((_("Forgotten identifier"), url_for("sesame.identifier")))
    links.append((_("Help"), url_for("sesame.help")))
    return links


@bp.before_request
def _enabled() -> None:
    if not sesame().settings.enabled:
        abort(404)


# A page's background work (runtime.later) starts once the page is made (T2).
bp.teardown_request(start_later)


@bp.get("/", endpoint="help")
def help_page() -> tuple[str, int]:
    settings = sesame().settings
    return render_page(
        "sesame/help.html",
        password_enabled=any(settings.path_enabled(p) for p in settings.password_paths),
        settings=settings,
    )


@bp.get("/charter/<charter_id>")
def charter(charter_id: str) -> tuple[str, int]:
    """Read a charter (the activation and reset forms link here)."""
    found = next((c for c in container().charters if c.id == charter_id), None)
    if found is None:
        return error_page(404)
    return render_page(
        "sesame/charter.html",
        title=found.title(language()),
        version=found.version,
        paragraphs=found.paragraphs(language()),
    )


@demo_bp.get("/demo/outbox")
def demo_outbox() -> tuple[str, int]:
    """The console backends' last messages, so a newcomer can follow a link (demo only)."""
    if container().settings.mode != "demo":
        return error_page(404)
    messages = [{"message": m, "links": URL_RE.findall(m.body)} for m in sesame().console.latest()]
    return render_page("sesame/demo_outbox.html", messages=messages)


def init_app(app: Flask) -> None:
    from . import activation, identifier, links, password  # noqa: F401  (routes)
    from .help_request import init_app as init_help_request
    from .registration import init_app as init_registration  # "Créer un compte" (#16)

    with app.app_context():
        c = container()
        settings = load_sesame_settings(c.settings.raw)
        console = ConsoleLog(settings.mail.console_dir)
        store = SqlSesameStore(c.engine, c.accounts)
        joker, joker_ip = make_throttles(settings)
        app.extensions["sesame"] = Sesame(
            settings=settings,
            store=store,
            tokens=store.tokens,
            outbox=make_outbox(settings.mail, c.settings.public_url, console),
            sms=make_sms_sender(settings.sms, console),
            console=console,
            joker_throttle=joker,
            joker_ip_throttle=joker_ip,
            dummy_hash=dummy_hash(c.settings.bcrypt_cost),
        )
    app.register_blueprint(bp)
    app.register_blueprint(demo_bp)
    app.extensions.setdefault("cas_login_links", []).append(login_links)
    init_help_request(app)  # "Problème de connexion ?" (#16)
    init_registration(app)

    @app.context_processor
    def _sesame_context() -> dict[str, Any]:
        return {"sesame_settings": app.extensions["sesame"].settings}


__all__ = ["bp", "init_app"]
