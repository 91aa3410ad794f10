"""Themes: one Jinja loader chain per request (service theme, deployment theme, default).

A theme folder holds only what it overrides. Template names are prefixed
with the chain (``@uphf>default/login.html``) so that Jinja's template cache,
keyed by name, can never hand one theme's page to another theme's request.

A theme names its institution once, in its ``theme.toml`` (``institution_name``):
the header, the footer and the page titles of its pages all say that name; a theme
that names none shows ``server.institution_name``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from flask import current_app, g
from jinja2 import BaseLoader, Environment, TemplateNotFound
from werkzeug.security import safe_join

THEME_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEFAULT_THEME = "default"
THEME_FILE = "theme.toml"


class ThemeLoader(BaseLoader):
    """Resolves ``@a>b>c/name.html`` by looking in themes a, b, c in turn."""

    def __init__(self, themes_dir: Path) -> None:
        self.themes_dir = themes_dir

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if not template.startswith("@") or "/" not in template:
            raise TemplateNotFound(template)
        chain, _, name = template[1:].partition("/")
        for theme in chain.split(">"):
            path = self.themes_dir / theme / "templates" / name
            if THEME_NAME_RE.fullmatch(theme) and path.is_file():
                mtime = path.stat().st_mtime
                source = path.read_text(encoding="utf-8")
                return source, str(path), lambda p=path, m=mtime: p.stat().st_mtime == m
        raise TemplateNotFound(template)


class Themes:
    """Which themes exist, and the chain for a request."""

    def __init__(self, themes_dir: Path, deployment_theme: str) -> None:
        self.themes_dir = themes_dir
        self.available = frozenset(
            p.name for p in themes_dir.iterdir() if p.is_dir() and THEME_NAME_RE.fullmatch(p.name)
        )
        if deployment_theme not in self.available:
            raise ValueError(
                f"server.default_theme: no theme folder {themes_dir / deployment_theme}"
            )
        self.deployment_theme = deployment_theme
        self.institution_names = {
            name: found
            for name in sorted(self.available)
            if (found := _institution_name(themes_dir / name / THEME_FILE))
        }

    def chain(self, service_theme: str | None = None) -> tuple[str, ...]:
        names = [service_theme, self.deployment_theme, DEFAULT_THEME]
        chain: list[str] = []
        for name in names:
            if name and name in self.available and name not in chain:
                chain.append(name)
        return tuple(chain)

    def static_file(self, chain: tuple[str, ...], filename: str) -> Path | None:
        for theme in chain:
            # safe_join refuses "..", absolute paths and the like.
            joined = safe_join(str(self.themes_dir / theme / "static"), filename)
            if joined is not None and Path(joined).is_file():
                return Path(joined)
        return None


def _institution_name(path: Path) -> str | None:
    """The ``institution_name`` a theme's ``theme.toml`` gives, if any (checked at start)."""
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    name = meta.get("institution_name")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{path}: institution_name must be a non-empty string")
    return name.strip()


def current_chain() -> tuple[str, ...]:
    chain: tuple[str, ...] = g.get("theme_chain") or g.themes.chain()
    return chain


def theme_template(name: str) -> str:
    return "@" + ">".join(current_chain()) + "/" + name


def institution_name() -> str:
    """The institution the page names: the first theme of the chain that names one, else
    ``server.institution_name``."""
    names: dict[str, str] = g.themes.institution_names
    for theme in current_chain():
        if theme in names:
            return names[theme]
    return str(current_app.extensions["cas"].settings.institution_name)
