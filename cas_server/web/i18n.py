"""Interface language: ?lang=, then the lang cookie, then the browser, then the default."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, g, request
from flask_babel import Babel
from werkzeug.wrappers import Response

LANG_COOKIE = "lang"
LABELS = {"fr": "Français", "en": "English"}


def select_locale() -> str:
    settings = current_app.extensions["cas"].settings
    wanted = request.args.get("lang")
    if wanted is not None and wanted in settings.languages:
        g.lang_chosen = wanted
        return wanted
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie is not None and cookie in settings.languages:
        return cookie
    best = request.accept_languages.best_match(settings.languages)
    return best or settings.default_language


def lang_url(code: str) -> str:
    args = request.args.to_dict(flat=True)
    args["lang"] = code
    return f"{request.path}?{urlencode(args)}"


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def _i18n_context() -> dict[str, object]:
        from flask_babel import get_locale

        settings = app.extensions["cas"].settings
        return {
            "current_lang": str(get_locale() or settings.default_language),
            "languages": [(code, LABELS.get(code, code)) for code in settings.languages],
            "lang_url": lang_url,
            "institution_name": settings.institution_name,
        }

    @app.after_request
    def _remember_language(response: Response) -> Response:
        chosen = g.get("lang_chosen")
        if chosen:
            response.set_cookie(
                LANG_COOKIE,
                chosen,
                max_age=365 * 86400,
                path=request.script_root or "/",
                samesite="Lax",
                # As the TGC: an https public URL means Secure, even behind
                # a proxy that ends TLS (web/login_support.py cookie_secure).
                secure=current_app.extensions["cas"].settings.secure_cookies(request.is_secure),
                httponly=True,
            )
        return response
