"""The profile's Security section in Chromium: an authenticator app enrolled by reading
the secret from the page, a security key registered through the DevTools virtual
authenticator, every new page audited with axe-core, the Security page on a phone.

WebAuthn needs a relying party id that is a domain name (Chromium refuses an IP
address), so these tests run their own server whose ``public_url`` is
``http://localhost:PORT`` (gunicorn as in production, on a copy of the demo
database), instead of the shared ``stack`` on 127.0.0.1. The key is registered
under the server's own CSP (no ``bypass_csp``): the script is a file, not inline.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from cas_server.accounts.model import Profile
from tests.support.browser import PHONE, Audit, Shoot, add_account, cas_toml, expect, sign_in
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.paths import DATA
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

PASSWORD = "Securite-Profil-2026!"
CURRENT = "Mot de passe actuel"
VIRTUAL_KEY = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


def _config(base: Path, url: str) -> Path:
    return cas_toml(base, url, DATA / "services.toml")


@pytest.fixture(scope="module")
def localhost(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[Any]:
    """(the server's URL on localhost, the app in this process on its database)."""
    from cas_server import create_app

    base = tmp_path_factory.mktemp("browser-profile-security")
    port = free_port()
    url = f"http://localhost:{port}"
    config = _config(base, url)
    shutil.copyfile(demo_database, base / "cas.sqlite3")
    env = server_env(config)
    log = base / "gunicorn.log"
    server = start_gunicorn({**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}, log)
    try:
        wait_until_up(server, url + "/login", 200, log, "gunicorn")
        app = create_app(config, environ={})
        yield url, app
    finally:
        stop(server)


def person(localhost: Any, login: str) -> None:
    add_account(localhost[1], login, PASSWORD, profile=Profile.STAFF, charter_accepted=False)


def open_security(page: Any, url: str, login: str) -> None:
    page.goto(url + "/profile/security")
    sign_in(page, login, PASSWORD)
    expect(page).to_have_url(url + "/profile/security")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sécurité")


def test_totp_enrolment_reading_the_secret_and_every_page_audited(
    page: Any, localhost: Any, audit: Audit, shoot: Shoot
) -> None:
    url, _app = localhost
    person(localhost, "totp.person")
    open_security(page, url, "totp.person")
    audit(page, "profile-security-empty")

    page.get_by_role("link", name="Application d'authentification").click()
    expect(page).to_have_url(url + "/profile/security/app")
    expect(page.get_by_role("img", name="QR code à scanner")).to_be_visible()
    audit(page, "profile-security-app")
    shoot(page, "profile-security-app")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    page.get_by_label("Code affiché par l'application").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Nom de cette application").fill("Téléphone de test")
    page.get_by_label(CURRENT).fill(PASSWORD)
    page.get_by_role("button", name="Ajouter l'application").click()

    expect(page).to_have_url(url + "/profile/security/recovery-codes/new")
    expect(page.locator(".mfa-codes li")).to_have_count(10)
    audit(page, "profile-security-codes-shown")
    page.get_by_role("link", name="Je les ai enregistrés").click()
    expect(page).to_have_url(url + "/profile/security?done=mfa_added")
    row = page.get_by_role("row", name="Téléphone de test")
    expect(row).to_contain_text("Application d'authentification")
    assert secret not in page.content()
    audit(page, "profile-security")

    # Every other new page, each audited.
    row.get_by_role("link", name="Renommer").click()
    expect(page.get_by_label("Nouveau nom")).to_have_value("Téléphone de test")
    audit(page, "profile-security-rename")
    page.go_back()
    row.get_by_role("link", name="Retirer").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Téléphone de test")
    audit(page, "profile-security-remove")
    for path, name in (
        ("/profile/security/key", "profile-security-key"),
        ("/profile/security/recovery-codes", "profile-security-recovery-codes"),
        ("/profile/security/channel/email", "profile-security-email-codes"),
        ("/profile/security/devices", "profile-security-devices"),
    ):
        page.goto(url + path)
        audit(page, name)

    # A form sent with errors: the summary, then the page is still accessible.
    page.goto(url + "/profile/security/recovery-codes")
    page.get_by_role("button", name="Créer de nouveaux codes de secours").click()
    expect(page.locator(".error-summary")).to_be_focused()
    audit(page, "profile-security-recovery-codes-error")


def test_the_security_page_on_a_phone(
    page: Any, localhost: Any, audit: Audit, shoot: Shoot
) -> None:
    url, app = localhost
    person(localhost, "phone.person")
    c = app.extensions["cas"]
    account = c.accounts.find_by_login("phone.person")
    secret = c.mfa.begin_totp()
    c.mfa.confirm_totp(account, "Un nom de téléphone assez long", secret, pyotp.TOTP(secret).now())
    page.set_viewport_size(PHONE)
    open_security(page, url, "phone.person")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the Security page is {width} px wide on a phone"
    rename = page.get_by_role("link", name="Renommer Un nom de téléphone assez long")
    box = rename.bounding_box()
    assert box is not None and box["height"] >= 44, box  # a touch target
    audit(page, "profile-security-phone")
    shoot(page, "profile-security")  # also: no sideways scrolling at 320 px


# Without the WebAuthn Level 3 JSON helpers (older Firefox and Safari), the script
# converts base64url itself: both ways are run.
OLD_BROWSER = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@pytest.mark.parametrize("helpers", ["native", "own"])
def test_security_key_registration_through_the_virtual_authenticator(
    browser: Any, localhost: Any, helpers: str
) -> None:
    url, _app = localhost
    login = f"key.{helpers}"
    person(localhost, login)
    context = browser.new_context(locale="fr-FR")  # the server's CSP applies
    context.set_default_timeout(15_000)
    if helpers == "own":
        context.add_init_script(OLD_BROWSER)
    try:
        page = context.new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_KEY})
        open_security(page, url, login)
        page.get_by_role("link", name="Clé de sécurité ou clé d'accès").click()
        expect(page).to_have_url(url + "/profile/security/key")
        page.get_by_label("Nom de cette clé").fill("Clé virtuelle")
        page.get_by_label(CURRENT).fill(PASSWORD)
        page.get_by_role("button", name="Ajouter la clé de sécurité").click()

        expect(page).to_have_url(url + "/profile/security/recovery-codes/new")
        page.get_by_role("link", name="Je les ai enregistrés").click()
        row = page.get_by_role("row", name="Clé virtuelle")
        expect(row).to_contain_text("Clé de sécurité ou clé d'accès")
        stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]})
        assert len(stored["credentials"]) == 1

        # The same authenticator again: the browser refuses it (excluded), and the
        # page says so in the server's words, announced.
        page.goto(url + "/profile/security/key")
        page.get_by_label("Nom de cette clé").fill("Encore elle")
        page.get_by_label(CURRENT).fill(PASSWORD)
        page.get_by_role("button", name="Ajouter la clé de sécurité").click()
        error = page.locator("[data-webauthn-error]")
        expect(error).to_be_visible()
        expect(error).to_have_attribute("role", "alert")
        expect(error).to_contain_text("La clé de sécurité n'a pas été ajoutée")
        expect(page).to_have_url(url + "/profile/security/key")
    finally:
        context.close()
