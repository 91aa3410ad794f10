"""The second factor at sign-in in Chromium (issue #14): a security key through the
DevTools virtual authenticator, an authenticator app set up at sign-in by reading the
secret from the page, the page with no way; every new page audited with axe-core.

WebAuthn needs a relying party id that is a domain name (Chromium refuses an IP
address): this module runs its own server on ``http://localhost:PORT`` (gunicorn as
in production, on a copy of the demo database) and the demo client, whose payroll
(``/paie/``) requires a second factor, as in ``config/demo-services/demo.toml``.
The pages run under the server's own CSP (no ``bypass_csp``), so the WebAuthn
script is the file it is in production.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

from cas_server.accounts.mfa.model import Factor, FactorKind
from cas_server.accounts.model import Profile
from tests.support.browser import DESKTOP, Audit, Shoot, add_account, cas_toml, expect, sign_in
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.paths import ROOT
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

PASSWORD = "Second-Facteur-2026!"
VIRTUAL_KEY = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


@dataclass(frozen=True)
class MfaStack:
    cas: str  # http://localhost:PORT
    client: str  # http://127.0.0.1:PORT of the demo client
    app: Any  # the server's app in this process, on its database

    def service(self, name: str) -> str:
        return f"{self.client}/{name}/"


def _services(client_port: int) -> str:
    host = rf"^http://127\.0\.0\.1:{client_port}"
    return f"""\
[[services]]
id = "demo-ent"
name = "ENT de démonstration"
url_pattern = '{host}/ent(/.*)?$'
evaluation_order = 10
release_attributes = ["uid", "displayName"]
logout_type = "none"

[[services]]
id = "demo-paie"
name = "Paie de démonstration"
url_pattern = '{host}/paie(/.*)?$'
evaluation_order = 30
release_attributes = ["uid", "displayName"]
logout_type = "none"
mfa = "required"
"""


def _config(base: Path, cas_url: str, client_port: int) -> Path:
    services = base / "services.toml"
    services.write_text(_services(client_port), encoding="utf-8")
    return cas_toml(base, cas_url, services, extra="[mfa]\ntrust_days = 30\ngrace_sign_ins = 3\n")


@pytest.fixture(scope="module")
def mfa_stack(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[MfaStack]:
    from cas_server import create_app

    base = tmp_path_factory.mktemp("browser-mfa-sign-in")
    cas_port, client_port = free_port(), free_port()
    cas_url, client_url = f"http://localhost:{cas_port}", f"http://127.0.0.1:{client_port}"
    config = _config(base, cas_url, client_port)
    shutil.copyfile(demo_database, base / "cas.sqlite3")
    env = server_env(config)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with (base / "demo-client.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "scripts/demo_client.py", "--port", str(client_port)],
                    cwd=ROOT,
                    env={**env, "CAS_URL": cas_url},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        server_log = base / "gunicorn.log"
        server = start_gunicorn({**env, "GUNICORN_BIND": f"127.0.0.1:{cas_port}"}, server_log)
        processes.append(server)
        wait_until_up(server, cas_url + "/login", 200, server_log, "gunicorn")
        wait_until_up(processes[0], client_url + "/ent/", 302, base / "demo-client.log", "client")
        yield MfaStack(cas_url, client_url, create_app(config, environ={}))
    finally:
        for process in reversed(processes):
            stop(process)


@pytest.fixture
def strict_page(browser: Any) -> Iterator[Any]:
    """A French browser under the server's own CSP (the WebAuthn script is a file)."""
    context = browser.new_context(locale="fr-FR", viewport=DESKTOP)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def person(stack: MfaStack, login: str) -> Any:
    add_account(stack.app, login, PASSWORD, profile=Profile.STAFF, charter_accepted=False)
    return stack.app.extensions["cas"].accounts.find_by_login(login)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def with_security_key(stack: MfaStack, login: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A WebAuthn factor whose private key only this test (and the virtual key) holds."""
    account = person(stack, login)
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    cose = encode_cbor(
        {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    )
    credential_id = secrets.token_bytes(32)
    stack.app.extensions["cas"].mfa.store.add_factor(
        Factor(
            id=f"key-{login}",
            account_uuid=account.uuid,
            kind=FactorKind.WEBAUTHN,
            label="Clé de test",
            created_at=0.0,
            credential_id=credential_id,
            public_key=cose,
            sign_count=0,
            transports=("internal",),
        )
    )
    return credential_id, key


def virtual_authenticator(page: Any, stack: MfaStack, credential_id: bytes, key: Any) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_KEY})
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": added["authenticatorId"],
            "credential": {
                "credentialId": b64(credential_id),
                "isResidentCredential": False,
                "rpId": "localhost",
                "privateKey": b64(der),
                "signCount": 0,
            },
        },
    )
    return cdp, added["authenticatorId"]


def key_sign_in(page: Any, stack: MfaStack, login: str) -> tuple[Any, str]:
    """Up to the security key's page: the virtual key holds the account's credential."""
    credential_id, key = with_security_key(stack, login)
    cdp, authenticator = virtual_authenticator(page, stack, credential_id, key)
    page.goto(stack.service("paie"))
    sign_in(page, login, PASSWORD)
    expect(page).to_have_url(stack.cas + "/login/mfa")
    return cdp, authenticator


def test_a_security_key_signs_in_to_the_payroll(
    page: Any, mfa_stack: MfaStack, audit: Audit, shoot: Shoot
) -> None:
    cdp, authenticator = key_sign_in(page, mfa_stack, "cle.paie")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmez votre identité")
    expect(page.locator(".service-notice")).to_have_text(
        "Paie de démonstration demande un second facteur."
    )
    button = page.get_by_role("button", name="Utiliser ma clé de sécurité")
    expect(button).to_be_visible()
    expect(page.locator("[data-webauthn-error]")).to_be_hidden()
    shoot(page, "mfa-sign-in-key")
    audit(page, "mfa-sign-in-key")
    button.click()
    expect(page).to_have_url(mfa_stack.service("paie"))
    body = page.locator("body")
    expect(body).to_contain_text("Connecté en tant que cle.paie.")
    expect(body).to_contain_text("webauthn")  # authenticationMethod, from the validation
    expect(body).to_contain_text("https://refeds.org/profile/mfa")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert credentials["credentials"][0]["signCount"] >= 1
    # Single sign-on to the ENT asks nothing more.
    page.goto(mfa_stack.service("ent"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que cle.paie.")


def test_the_security_key_under_the_servers_own_csp(strict_page: Any, mfa_stack: MfaStack) -> None:
    """No ``bypass_csp``: the script is a file and the options are data, not inline code."""
    page = strict_page
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    key_sign_in(page, mfa_stack, "cle.csp")
    page.get_by_role("button", name="Utiliser ma clé de sécurité").click()
    expect(page).to_have_url(mfa_stack.service("paie"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que cle.csp.")
    assert refused == []


def test_an_app_set_up_at_sign_in_reading_only_the_page(
    page: Any, mfa_stack: MfaStack, audit: Audit, shoot: Shoot
) -> None:
    person(mfa_stack, "appli.paie")
    page.goto(mfa_stack.service("paie"))
    sign_in(page, "appli.paie", PASSWORD)
    expect(page).to_have_url(mfa_stack.cas + "/login/mfa/enrol")
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer un second facteur")
    expect(page.get_by_role("img", name="QR code à scanner avec votre application")).to_be_visible()
    expect(page.get_by_role("button", name="Plus tard")).to_have_count(0)  # the service requires it
    shoot(page, "mfa-enrol")
    audit(page, "mfa-enrol")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    code_field = page.get_by_label("Code de l'application")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(code_field).to_have_attribute("inputmode", "numeric")
    # A wrong code first: the error summary takes the focus and names the field.
    code_field.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Confirmer et continuer").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Code de l'application")
    expect(summary).to_be_focused()
    audit(page, "mfa-enrol-error")
    page.get_by_label("Code de l'application").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirmer et continuer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Vos codes de secours")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    shoot(page, "mfa-recovery-codes")
    audit(page, "mfa-recovery-codes")
    page.get_by_role("button", name="Je les ai conservés, continuer").click()
    expect(page).to_have_url(mfa_stack.service("paie"))
    expect(page.locator("body")).to_contain_text("totp")

    # Next sign-in: the app's next code, typed on the code page (the keyboard only).
    page.context.clear_cookies()
    page.goto(mfa_stack.service("paie"))
    sign_in(page, "appli.paie", PASSWORD)
    expect(page).to_have_url(mfa_stack.cas + "/login/mfa")
    field = page.get_by_label("Code de votre application d'authentification")
    expect(field).to_be_focused()
    shoot(page, "mfa-sign-in-app")
    audit(page, "mfa-sign-in-app")
    page.keyboard.type(pyotp.TOTP(secret).at(time.time() + 30))
    page.keyboard.press("Enter")
    expect(page).to_have_url(mfa_stack.service("paie"))


def test_no_factor_and_no_grace_ends_on_a_page_that_says_what_to_do(
    page: Any, mfa_stack: MfaStack, audit: Audit, shoot: Shoot
) -> None:
    account = person(mfa_stack, "sans.facteur")
    store = mfa_stack.app.extensions["cas"].mfa.store
    for _ in range(3):
        store.use_grace(account.uuid)
    page.goto(mfa_stack.service("paie"))
    sign_in(page, "sans.facteur", PASSWORD)
    expect(page).to_have_url(re.compile(re.escape(mfa_stack.cas) + r"/login/mfa/none"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Un second facteur est nécessaire")
    expect(page.locator("main")).to_contain_text("Contactez l'assistance")
    shoot(page, "mfa-none")
    audit(page, "mfa-none")
    page.get_by_role("link", name="Retour à la page de connexion").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Service Central d'Authentification")
