"""Themes: deployment and per-service themes, the lookup chain, and the example themes.

The contrast checks at the end run over every folder in themes/, so a new
theme is checked as soon as it is added (WCAG 2.1 AA: 4.5:1 for text, 3:1
for large text and user-interface components).
"""

from __future__ import annotations

import html
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import create_app
from tests.support.app import DATA, test_overrides

THEMES = Path(__file__).resolve().parents[2] / "themes"
DEFAULT = THEMES / "default"
ALL_THEMES = sorted(p.name for p in THEMES.iterdir() if p.is_dir())
INSTITUTION_THEMES = [name for name in ALL_THEMES if name != "default"]


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


class TestDeploymentTheme:
    @pytest.fixture
    def app_overrides(self) -> dict[str, dict[str, Any]]:
        return {"server": {"default_theme": "univ-exemple"}}

    def test_its_header_and_stylesheet_apply(self, client: FlaskClient) -> None:
        page = text(client.get("/login"))
        assert "Université Exemple" in page
        assert "Sésame – votre compte universitaire" in page
        assert 'href="/themes/univ-exemple~default/static/css/cas.css"' in page
        assert 'href="/themes/univ-exemple~default/static/css/theme.css"' in page
        assert 'src="/themes/univ-exemple~default/static/img/logo.svg"' in page

    def test_what_it_does_not_override_comes_from_default(self, client: FlaskClient) -> None:
        page = text(client.get("/login?lang=en"))
        # login.html and partials/footer.html are the default theme's.
        assert 'id="username"' in page and 'autocomplete="current-password"' in page
        assert '<footer class="site-footer">' in page
        # The default footer, with the name the theme gives (its theme.toml).
        assert "Université Exemple · Central Authentication Service" in page
        assert "Sésame – your university account" in page

    def test_its_files_win_and_the_rest_falls_back(self, client: FlaskClient) -> None:
        chain = "/themes/univ-exemple~default/static/"
        theme_css = client.get(chain + "css/theme.css")
        assert theme_css.status_code == 200 and "--brand: #00566b" in text(theme_css)
        logo = client.get(chain + "img/logo.svg")
        assert logo.data == (THEMES / "univ-exemple/static/img/logo.svg").read_bytes()
        cas_css = client.get(chain + "css/cas.css")
        assert cas_css.data == (DEFAULT / "static/css/cas.css").read_bytes()

    def test_error_pages_use_it_too(self, client: FlaskClient) -> None:
        page = text(client.get("/nothing-here"))
        assert "Université Exemple" in page and "univ-exemple~default" in page


@pytest.fixture
def college_services(tmp_path: Path) -> Path:
    path = tmp_path / "college.toml"
    path.write_text(
        "[[services]]\n"
        'id = "college-ent"\n'
        'name = "ENT du collège"\n'
        'url_prefix = "https://ent.college.example/"\n'
        "evaluation_order = 1\n"
        'theme = "college-exemple"\n',
        encoding="utf-8",
    )
    return path


SERVICE = "https://ent.college.example/portail/"


class TestServiceTheme:
    @pytest.fixture
    def app_overrides(self, college_services: Path) -> dict[str, dict[str, Any]]:
        return {"services": {"paths": [str(college_services), str(DATA / "services.toml")]}}

    def test_a_service_naming_a_theme_gets_it_on_its_login_page(self, client: FlaskClient) -> None:
        page = text(client.get("/login", query_string={"service": SERVICE}))
        assert "Besoin d'aide ?" in page
        assert "Parents : " in page
        assert 'href="/themes/college-exemple~default/static/css/theme.css"' in page
        assert 'src="/themes/college-exemple~default/static/img/logo.svg"' in page
        assert "ENT du collège" in page
        english = text(client.get("/login", query_string={"service": SERVICE, "lang": "en"}))
        assert "Need help?" in english and "Parents: " in english

    def test_other_pages_keep_the_deployment_theme(self, client: FlaskClient) -> None:
        page = text(client.get("/login"))
        assert "Besoin d'aide" not in page
        assert 'href="/themes/default/static/css/theme.css"' in page
        other = text(client.get("/login", query_string={"service": "https://app.example.org/"}))
        assert "Besoin d'aide" not in other

    def test_unauthorized_page_of_another_service_is_not_themed(self, client: FlaskClient) -> None:
        page = client.get("/login", query_string={"service": "https://evil.example/"})
        assert page.status_code == 403
        assert "college-exemple" not in text(page)


class TestServiceThemeOverDeploymentTheme:
    @pytest.fixture
    def app_overrides(self, college_services: Path) -> dict[str, dict[str, Any]]:
        return {
            "server": {"default_theme": "univ-exemple"},
            "services": {"paths": [str(college_services), str(DATA / "services.toml")]},
        }

    def test_chain_is_service_then_deployment_then_default(self, client: FlaskClient) -> None:
        page = text(client.get("/login", query_string={"service": SERVICE}))
        chain = "/themes/college-exemple~univ-exemple~default/static/"
        assert f'href="{chain}css/theme.css"' in page
        assert "Besoin d'aide ?" in page  # the service theme's footer
        assert "Sésame – votre compte universitaire" in page  # the deployment theme's header


def test_unknown_deployment_theme_stops_the_start(db_path: Path) -> None:
    overrides = test_overrides(db_path, server={"default_theme": "no-such-theme"})
    with pytest.raises(ValueError, match=r"server\.default_theme") as error:
        create_app(overrides=overrides, environ={})
    assert "no-such-theme" in str(error.value)


def test_static_files_resolve_through_the_chain(client: FlaskClient) -> None:
    chain = "/themes/college-exemple~default/static/"
    cas_css = client.get(chain + "css/cas.css")
    assert cas_css.status_code == 200
    assert cas_css.data == (DEFAULT / "static/css/cas.css").read_bytes()
    assert "max-age=86400" in cas_css.headers["Cache-Control"]
    theme_css = client.get(chain + "css/theme.css")
    assert theme_css.data == (THEMES / "college-exemple/static/css/theme.css").read_bytes()
    script = client.get(chain + "js/autosubmit.js")
    assert script.data == (DEFAULT / "static/js/autosubmit.js").read_bytes()
    assert client.get("/themes/default/static/css/theme.css").status_code == 200
    assert client.get(chain + "css/missing.css").status_code == 404
    assert client.get("/themes/college-exemple~nope/static/css/cas.css").status_code == 404


def test_default_pages_link_the_empty_default_theme_css(app: Flask, client: FlaskClient) -> None:
    page = text(client.get("/login"))
    assert 'href="/themes/default/static/css/cas.css"' in page
    assert 'href="/themes/default/static/css/theme.css"' in page
    css = (DEFAULT / "static/css/theme.css").read_text(encoding="utf-8")
    assert not re.sub(r"/\*.*?\*/", "", css, flags=re.S).strip()


# --- Every theme folder: description, overrides, colours ---------------------


@pytest.mark.parametrize("name", ALL_THEMES)
def test_theme_has_a_theme_toml(name: str) -> None:
    meta = tomllib.loads((THEMES / name / "theme.toml").read_text(encoding="utf-8"))
    assert isinstance(meta.get("name"), str) and meta["name"]
    assert isinstance(meta.get("description"), str) and meta["description"]


@pytest.mark.parametrize("name", INSTITUTION_THEMES)
def test_theme_overrides_only_existing_files(name: str) -> None:
    """A misspelt override would silently never be used."""
    theme = THEMES / name
    for sub in ("templates", "static"):
        for path in (theme / sub).rglob("*"):
            if path.is_file():
                relative = path.relative_to(theme)
                assert (DEFAULT / relative).is_file(), f"{name}: {relative} overrides nothing"


CUSTOM_PROPERTY = re.compile(r"(--[a-z0-9-]+)\s*:\s*([^;]+);")


def custom_properties(css_file: Path) -> dict[str, str]:
    css = re.sub(r"/\*.*?\*/", "", css_file.read_text(encoding="utf-8"), flags=re.S)
    root = re.search(r":root\s*\{(.*?)\}", css, flags=re.S)
    return dict(CUSTOM_PROPERTY.findall(root.group(1))) if root else {}


@pytest.mark.parametrize("name", INSTITUTION_THEMES)
def test_theme_css_only_sets_custom_properties(name: str) -> None:
    css_file = THEMES / name / "static/css/theme.css"
    css = re.sub(r"/\*.*?\*/", "", css_file.read_text(encoding="utf-8"), flags=re.S)
    body = re.fullmatch(r"\s*:root\s*\{(.*)\}\s*", css, flags=re.S)
    assert body, f"{css_file}: expected a single :root {{ … }} block"
    assert not CUSTOM_PROPERTY.sub("", body.group(1)).strip(), f"{css_file}: not only --properties"
    unknown = set(custom_properties(css_file)) - set(
        custom_properties(DEFAULT / "static/css/cas.css")
    )
    assert not unknown, f"{css_file}: unknown custom properties {sorted(unknown)}"


def luminance(colour: str) -> float:
    value = colour.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", value), f"not a #rrggbb colour: {colour}"

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(value[i : i + 2], 16) / 255) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT, UI = 4.5, 3.0
# (foreground, background, minimum): every pair cas.css puts together.
PAIRS = [
    ("--text", "--surface", TEXT),
    ("--text", "--bg", TEXT),
    ("--text", "--info-bg", TEXT),
    ("--text", "--error-bg", TEXT),
    ("--text-muted", "--surface", TEXT),
    ("--text-muted", "--bg", TEXT),
    ("--link", "--surface", TEXT),
    ("--link", "--bg", TEXT),
    ("--link-hover", "--surface", TEXT),
    ("--brand-contrast", "--brand", TEXT),  # primary buttons, skip link
    ("--brand-contrast", "--brand-hover", TEXT),
    ("--brand", "--surface", TEXT),  # secondary buttons
    ("--brand-hover", "--info-bg", TEXT),  # secondary buttons, hovered
    ("--error", "--surface", TEXT),
    ("--error", "--error-bg", TEXT),
    ("--header-text", "--header-bg", TEXT),
    ("--text-muted", "--header-bg", TEXT),  # tagline
    ("--link", "--header-bg", TEXT),  # language switcher
    ("--footer-text", "--bg", TEXT),
    ("--input-border", "--surface", UI),
    ("--focus", "--surface", UI),
    ("--focus", "--bg", UI),
    ("--focus", "--header-bg", UI),
    ("--success", "--surface", UI),  # status icon
    ("--brand", "--surface", UI),  # checkbox accent
]


@pytest.mark.parametrize("name", ALL_THEMES)
def test_theme_colours_meet_wcag_aa(name: str) -> None:
    colours = custom_properties(DEFAULT / "static/css/cas.css")
    theme_css = THEMES / name / "static/css/theme.css"
    if theme_css.is_file():
        colours.update(custom_properties(theme_css))
    failures = [
        f"{fg} {colours[fg]} on {bg} {colours[bg]}: {contrast(colours[fg], colours[bg]):.2f}:1 "
        f"< {minimum}:1"
        for fg, bg, minimum in PAIRS
        if contrast(colours[fg], colours[bg]) < minimum
    ]
    assert not failures, f"{name}:\n" + "\n".join(failures)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#fff", "#ffffff") == pytest.approx(1.0)
