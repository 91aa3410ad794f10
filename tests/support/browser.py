"""What the Chromium tests (``tests/browser``) share: the stack they drive, viewports, the
login form as a person fills it, accounts made on the stack's database with the server's
own objects (``flow_app``), the server alone with features the other stacks keep off
(:func:`feature_stack`), the console's sign-in. The fixtures (stack, browser, page,
audit, shoot) are in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import update

from cas_server.accounts.charter import charter_for
from cas_server.accounts.model import Profile, Status
from cas_server.auth.hashing import hash_password
from cas_server.storage.sql.models import AccountRow
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.ports import free_port

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

Audit = Callable[[Any, str], list[dict[str, Any]]]
Shoot = Callable[[Any, str], None]

NARROWEST = {"width": 320, "height": 640}  # WCAG 1.4.10: reflow at 320 CSS pixels
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FRENCH = {"login": "Identifiant", "password": "Mot de passe", "submit": "Se connecter"}
ENGLISH = {"login": "Username", "password": "Password", "submit": "Sign in"}
ADMIN = ("admin", "Admin-Demo-2026!")  # the console's account in the demo database
LOCAL_SERVICES = """\
[[services]]
id = "anything-local"
name = "Local"
url_pattern = '^http://127\\.0\\.0\\.1:1/.*$'
"""


@dataclass(frozen=True)
class Stack:
    cas: str  # http://127.0.0.1:PORT of the CAS server
    client: str  # http://127.0.0.1:PORT of the demo ENT and Moodle
    config: Path = Path()  # the server's TOML (its SQLite database is next to it)

    def service(self, path: str) -> str:
        return f"{self.client}/{path}/"


def login_url(stack: Stack, service_path: str | None = None) -> str:
    """The login page, for the demo client's service at ``service_path`` if given."""
    if service_path is None:
        return stack.cas + "/login"
    return stack.cas + "/login?service=" + quote(stack.service(service_path), safe="")


def sign_in(page: Any, username: str, password: str, words: dict[str, str] = FRENCH) -> None:
    """Fill the login form by its labels (in the page's language) and send it."""
    page.get_by_label(words["login"], exact=True).fill(username)
    page.get_by_label(words["password"], exact=True).fill(password)
    page.get_by_role("button", name=words["submit"]).click()


def sign_in_to_console(page: Any, stack: Stack, path: str, words: dict[str, str] = FRENCH) -> None:
    """``path`` of the console asked for, then the login form filled as the demo's admin."""
    page.goto(stack.cas + path)
    sign_in(page, *ADMIN, words)


def add_account(
    app: Any,
    login: str,
    password: str,
    *,
    profile: Profile = Profile.STAFF,
    charter_accepted: bool = True,
    must_change: bool = False,
) -> None:
    """An active account on the stack's database, as the server's own objects make it."""
    c = app.extensions["cas"]
    account = c.accounts.create(
        login,
        profile=profile,
        status=Status.ACTIVE,
        password_hash=hash_password(password, c.settings.bcrypt_cost),
        given_name=login.capitalize(),
        family_name="Test",
    )
    if charter_accepted:
        accept_charter(app, login)
    if must_change:
        with c.engine.begin() as conn:
            conn.execute(
                update(AccountRow)
                .where(AccountRow.uuid == account.uuid)
                .values(must_change_password=True)
            )


def accept_charter(app: Any, login: str) -> None:
    c = app.extensions["cas"]
    account = c.accounts.find_by_login(login)
    charter = charter_for(c.charters, account.profile.value)
    c.accounts.accept_charter(account.uuid, charter.id, charter.version)


def cas_toml(
    base: Path,
    public_url: str,
    services: Path,
    *,
    policy: str = "nist",
    charters: str = "",
    extra: str = "",
) -> Path:
    """``base/cas.toml`` for a browser test's server on ``base/cas.sqlite3``: test mode,
    bcrypt cost 4, short HTTP time-outs, the console open with the password alone
    (``[admin] require_mfa = false``); ``extra`` adds sections."""
    config = base / "cas.toml"
    config.write_text(
        "[server]\n"
        'mode = "test"\n'
        f'secret_key = "browser-secret-key-{"z" * 40}"\n'
        f'public_url = "{public_url}"\n'
        'institution_name = "Université de Démonstration"\n'
        "[database]\n"
        f'url = "sqlite:///{base / "cas.sqlite3"}"\n'
        "[passwords]\n"
        "bcrypt_cost = 4\n"
        f"policy = {json.dumps(policy)}\n"
        "[http]\n"
        "connect_timeout = 2.0\n"
        "read_timeout = 2.0\n"
        "[services]\n"
        f"paths = [{json.dumps(str(services))}]\n"
        "[charters]\n"
        f"path = {json.dumps(charters)}\n"
        "[admin]\n"
        "require_mfa = false\n" + extra,
        encoding="utf-8",
    )
    return config


@contextmanager
def feature_stack(base: Path, demo_database: Path, extra_toml: str) -> Iterator[Stack]:
    """The CAS server alone under gunicorn (1 worker, no demo client) on a free port, on a
    copy of ``demo_database``, with one service ("Local": any URL of ``127.0.0.1:1``) and
    ``extra_toml`` (the features to turn on) added to :func:`cas_toml`'s file."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    services = base / "services.toml"
    services.write_text(LOCAL_SERVICES, encoding="utf-8")
    config = cas_toml(base, url, services, extra=extra_toml)
    shutil.copyfile(demo_database, base / "cas.sqlite3")
    log = base / "gunicorn.log"
    server = start_gunicorn(
        {**server_env(config), "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"},
        log,
    )
    try:
        wait_until_up(server, url + "/login", 200, log, "gunicorn")
        yield Stack(cas=url, client="http://127.0.0.1:1", config=config)
    finally:
        stop(server)
