"""Themes in the pages: the loader chain installed on the app, a service's theme for its
request, theme static files, and :func:`render_page` (the chain itself is
:mod:`cas_server.runtime.themes`, shared with the mails).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, g, render_template, send_from_directory, url_for
from werkzeug.wrappers import Response

from ..runtime.themes import ThemeLoader, Themes, current_chain, institution_name, theme_template
from .form_labels import FieldLabels


def use_service_theme(theme: str | None) -> None:
    """Called by a view once it knows the service: its theme wins for this request."""
    g.theme_chain = g.themes.chain(theme)


def theme_static(filename: str) -> str:
    return url_for("theme_static", chain="~".join(current_chain()), filename=filename)


def render_page(name: str, status: int = 200, **context: Any) -> tuple[str, int]:
    # Given here, the theme's name wins over the deployment's (a context processor).
    context.setdefault("institution_name", institution_name())
    context.setdefault("field_labels", FieldLabels())  # for the error summary
    return render_template(theme_template(name), **context), status


def init_app(app: Flask, themes: Themes) -> None:
    app.jinja_loader = ThemeLoader(themes.themes_dir)
    app.jinja_env.globals.update(theme_template=theme_template, theme_static=theme_static)
    from .labels import init_app as init_labels  # wording: configuration, theme.toml, catalogs

    init_labels(app, themes)

    @app.before_request
    def _attach_themes() -> None:
        g.themes = themes

    @app.route("/themes/<chain>/static/<path:filename>", endpoint="theme_static")
    def static(chain: str, filename: str) -> Response:
        names = tuple(chain.split("~"))
        if not all(n in themes.available for n in names):
            abort(404)
        path = themes.static_file(names, filename)
        if path is None:
            abort(404)
        return send_from_directory(path.parent, path.name, max_age=86400)
