"""Our SAML 2.0 IdP with the SP the federation's members run: Shibboleth SP 3, in Chromium.

One module-wide stack: Shibboleth SP 3 (Debian's ``libapache2-mod-shib`` in a throwaway
Apache, and ``shibd``: :mod:`tests.support.shibboleth`), started first so that its
metadata (``/Shibboleth.sso/Metadata``, with its generated key: the IdP encrypts for it)
is written as a local SP metadata file of the IdP; then the CAS server under gunicorn
with ``[saml] enabled`` and the demo ENT (a CAS service); then the IdP's
``/idp/metadata`` is handed to shibd. Each test drives a fresh Chromium context:

- SP-initiated SSO with the Redirect binding (``/secure/``) and with the POST binding
  (``/Shibboleth.sso/LoginPost``, which also asks for a persistent NameID); the
  assertion arrives encrypted (``EncryptedAssertion`` only, as the browser carried it)
  and Shibboleth accepts it: scoped ``eppn``, ``pairwise-id``, ``mail``…; the sign-in
  and consent pages pass axe-core;
- SSO to Shibboleth after signing in to a CAS service, and to the CAS service after
  Shibboleth (no password asked either way);
- IdP-initiated SSO (``/idp/unsolicited``, Shibboleth's parameter names);
- single logout started at Shibboleth (``/Shibboleth.sso/Logout``) and at our ``/logout``;
- ``forceAuthn=true`` asks for the password again; ``isPassive=true`` without a session
  comes back without one (no login page), with a session comes back signed in.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests

from tests.support.browser import DESKTOP, Audit, cas_toml, sign_in
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.shibboleth import (
    ShibbolethSP,
    key_pair,
    require_binaries,
    running_shibboleth,
    session_attributes,
)

pytestmark = pytest.mark.browser

SCOPE = "univ-demo.fr"
STUDENT = ("etudiant", "Etudiant-2026!")
TEACHER = ("enseignant", "Enseignant-2026!")
POLICY = "shibboleth-test"
RELEASED = ["eduPersonPrincipalName", "mail", "displayName", "givenName", "sn",
            "eduPersonAffiliation", "eduPersonScopedAffiliation", "pairwise-id",
            "subject-id"]  # fmt: skip


@dataclass
class SamlStack:
    cas: str
    client: str
    sp: ShibbolethSP
    folder: Path
    idp_entity_id: str = ""
    logs: list[Path] = field(default_factory=list)

    def service(self, path: str) -> str:
        return f"{self.client}/{path}/"

    def log_tail(self) -> str:
        out = [self.sp.logs()]
        for log in self.logs:
            out.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)


def services_toml(client_port: int) -> str:
    host = rf"^http://127\.0\.0\.1:{client_port}"
    return f"""\
[[services]]
id = "demo-ent"
name = "ENT de démonstration"
url_pattern = '{host}/ent(/.*)?$'
evaluation_order = 10
release_attributes = ["uid", "displayName", "mail"]
logout_url = "http://127.0.0.1:{client_port}/ent/slo"
logout_type = "back_channel"
"""


def saml_toml(keys: tuple[Path, Path], sp_metadata: Path, sp_entity: str) -> str:
    key_file, cert_file = keys
    return (
        "[saml]\n"
        "enabled = true\n"
        f"key_file = {json.dumps(str(key_file))}\n"
        f"cert_file = {json.dumps(str(cert_file))}\n"
        f'scope = "{SCOPE}"\n'
        "consent = true\n"
        f"sp_files = [{json.dumps(str(sp_metadata))}]\n"
        f"[saml.policies.{POLICY}]\n"
        f"attributes = {json.dumps(RELEASED)}\n"
        'name_id_formats = ["transient", "persistent"]\n'
        "consent = true\n"
        'encrypt = "metadata"\n'
        "[saml.release]\n"
        f'"{sp_entity}" = "{POLICY}"\n'
    )


@pytest.fixture(scope="module")
def shibboleth_installed() -> None:
    """Before the database and the browser: a missing Shibboleth skips (fails in CI) at once."""
    require_binaries()


@pytest.fixture(scope="module")
def saml_stack(
    shibboleth_installed: None, browser: Any, demo_database: Path
) -> Iterator[SamlStack]:
    """Shibboleth SP, then the IdP (gunicorn) and the demo ENT, then the IdP's metadata to shibd."""
    cas_port, client_port = free_port(), free_port()
    cas_url = f"http://127.0.0.1:{cas_port}"
    idp_entity = cas_url + "/idp/metadata"
    folder = Path(tempfile.mkdtemp(prefix="cas-saml-shib-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with running_shibboleth(idp_entity) as sp:
            sp_metadata = folder / "sp-shibboleth.xml"
            sp_metadata.write_bytes(sp.metadata())
            keys = key_pair(folder, "idp", "127.0.0.1")
            services = folder / "services.toml"
            services.write_text(services_toml(client_port), encoding="utf-8")
            config = cas_toml(
                folder, cas_url, services, extra=saml_toml(keys, sp_metadata, sp.entity_id)
            )
            shutil.copyfile(demo_database, folder / "cas.sqlite3")
            env = server_env(config)
            client_log = folder / "demo-client.log"
            with client_log.open("wb") as log:
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
            server_log = folder / "gunicorn.log"
            processes.append(
                start_gunicorn(
                    {**env, "GUNICORN_BIND": f"127.0.0.1:{cas_port}", "GUNICORN_WORKERS": "2"},
                    server_log,
                )
            )
            wait_until_up(processes[1], cas_url + "/login", 200, server_log, "gunicorn")
            wait_until_up(
                processes[0], f"http://127.0.0.1:{client_port}/ent/", 302, client_log, "demo client"
            )
            metadata = requests.get(idp_entity, timeout=10)
            assert metadata.status_code == 200, metadata.text[:500]
            sp.trust_idp(metadata.content)
            yield SamlStack(
                cas=cas_url,
                client=f"http://127.0.0.1:{client_port}",
                sp=sp,
                folder=folder,
                idp_entity_id=idp_entity,
                logs=[server_log, client_log],
            )
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shib_page(browser: Any, saml_stack: SamlStack) -> Iterator[Any]:
    """A fresh browser; the servers' logs are printed after the test (shown if it failed)."""
    context = browser.new_context(bypass_csp=True, locale="fr-FR", viewport=DESKTOP)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
        print(saml_stack.log_tail())


@dataclass
class Wire:
    """What the browser carried: AuthnRequests to /idp/sso, SAMLResponses to the ACS."""

    authn_requests: list[str] = field(default_factory=list)  # XML
    responses: list[str] = field(default_factory=list)  # XML
    logout_messages: list[str] = field(default_factory=list)  # XML
    seen: list[Any] = field(default_factory=list)  # every request

    def watch(self, page: Any) -> None:
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        self.seen.append(request)
        url = request.url
        query = parse_qs(urlsplit(url).query)
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            try:
                form = parse_qs(request.post_data or "")
            except (UnicodeDecodeError, ValueError):
                form = {}
        for name in ("SAMLRequest", "SAMLResponse"):
            if name in query:  # Redirect binding: deflated
                xml = decode(query[name][0], deflated=True)
            elif name in form:  # POST binding
                xml = decode(form[name][0], deflated=False)
            else:
                continue
            if "/idp/sso" in url and name == "SAMLRequest":
                self.authn_requests.append(xml)
            elif "/Shibboleth.sso/SAML2/POST" in url:
                self.responses.append(xml)
            elif "/SLO/" in url or "/idp/slo" in url:
                self.logout_messages.append(xml)


def decode(value: str, *, deflated: bool) -> str:
    raw = base64.b64decode(value)
    if deflated:
        raw = zlib.decompress(raw, -15)
    return raw.decode("utf-8", "replace")


def on_login_form(page: Any) -> bool:
    return "/login" in page.url and page.get_by_label("Mot de passe", exact=True).count() > 0


def pass_consent(page: Any, audit: Audit | None = None) -> None:
    """The consent page, if it comes: audited once, then accepted."""
    if "/idp/consent" not in page.url:
        return
    if audit is not None:
        audit(page, "saml-consent")
    page.locator('button[name="decision"][value="accept"]').click()


def arrive(page: Any, stack: SamlStack, audit: Audit | None = None) -> dict[str, str]:
    """After the password (or none): through consent to the SP page; its attribute dump."""
    page.wait_for_load_state("networkidle")
    pass_consent(page, audit)
    page.wait_for_url(re.compile(re.escape(stack.sp.url) + r"/(secure|public)/.*"))
    return session_attributes(page.content())


def sign_in_at_sp(
    page: Any, stack: SamlStack, url: str, audit: Audit | None = None
) -> dict[str, str]:
    page.goto(url)
    page.wait_for_url(re.compile(re.escape(stack.cas) + "/login.*"))
    if audit is not None:
        audit(page, "saml-sign-in")
    sign_in(page, *STUDENT)
    return arrive(page, stack, audit)


def check_student(attributes: dict[str, str], stack: SamlStack) -> None:
    assert attributes.get("Shib-Identity-Provider") == stack.idp_entity_id, attributes
    assert attributes.get("eppn") == f"etudiant@{SCOPE}", attributes
    pairwise = attributes.get("pairwise-id", "")
    assert re.fullmatch(rf"[a-z0-9]+@{re.escape(SCOPE)}", pairwise), attributes
    assert "etudiant" not in pairwise
    assert attributes.get("mail") == "camille.martin@etu.univ-demo.fr", attributes
    assert attributes.get("REMOTE_USER"), attributes


def check_encrypted(wire: Wire) -> None:
    assert wire.responses, "no SAMLResponse went to Shibboleth's ACS"
    last = wire.responses[-1]
    assert "EncryptedAssertion" in last, last[:2000]
    assert not re.search(r"<(\w+:)?Assertion[\s>]", last), "a plain assertion went by"
    assert "etudiant" not in last and "camille" not in last


def test_sp_initiated_sso_redirect_binding(
    saml_stack: SamlStack, shib_page: Any, audit: Audit
) -> None:
    wire = Wire()
    wire.watch(shib_page)
    attributes = sign_in_at_sp(shib_page, saml_stack, saml_stack.sp.secure, audit)
    check_student(attributes, saml_stack)
    assert attributes.get("Shib-AuthnContext-Class"), attributes
    assert wire.authn_requests, "no AuthnRequest seen"
    assert "ForceAuthn" not in wire.authn_requests[0] or 'ForceAuthn="0"' in wire.authn_requests[0]
    check_encrypted(wire)
    # A second visit: Shibboleth's own session, no round trip.
    shib_page.goto(saml_stack.sp.secure)
    assert session_attributes(shib_page.content())["eppn"] == attributes["eppn"]


def test_sp_initiated_sso_post_binding_persistent_name_id(
    saml_stack: SamlStack, shib_page: Any
) -> None:
    wire = Wire()
    wire.watch(shib_page)
    attributes = sign_in_at_sp(
        shib_page, saml_stack, saml_stack.sp.login_url(initiator="LoginPost")
    )
    check_student(attributes, saml_stack)
    assert wire.authn_requests, "no AuthnRequest seen"
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" in wire.authn_requests[0]
    # Shibboleth's persistent-id: IdP!SP!value, the value neither the login nor the eppn.
    persistent = attributes.get("persistent-id", "")
    idp, sp, value = persistent.split("!")
    assert (idp, sp) == (saml_stack.idp_entity_id, saml_stack.sp.entity_id), persistent
    assert value and "etudiant" not in value
    check_encrypted(wire)


def test_sso_after_a_cas_service_asks_no_password(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    page.goto(saml_stack.cas + "/login?service=" + quote(saml_stack.service("ent"), safe=""))
    sign_in(page, *TEACHER)
    page.wait_for_url(saml_stack.service("ent"))
    page.goto(saml_stack.sp.secure)
    page.wait_for_load_state("networkidle")
    assert not on_login_form(page), page.url
    attributes = arrive(page, saml_stack)
    assert attributes.get("eppn") == f"enseignant@{SCOPE}", attributes


def test_cas_service_after_shibboleth_asks_no_password(
    saml_stack: SamlStack, shib_page: Any
) -> None:
    page = shib_page
    sign_in_at_sp(page, saml_stack, saml_stack.sp.secure)
    page.goto(saml_stack.cas + "/login?service=" + quote(saml_stack.service("ent"), safe=""))
    page.wait_for_url(saml_stack.service("ent"))
    assert "Connecté en tant que etudiant." in page.locator("body").inner_text()


def test_idp_initiated_sso(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    acs = saml_stack.sp.url + "/Shibboleth.sso/SAML2/POST"
    query = urlencode(
        {"providerId": saml_stack.sp.entity_id, "shire": acs, "target": saml_stack.sp.secure}
    )
    page.goto(f"{saml_stack.cas}/idp/unsolicited?{query}")
    page.wait_for_url(re.compile(re.escape(saml_stack.cas) + "/login.*"))
    sign_in(page, *STUDENT)
    check_student(arrive(page, saml_stack), saml_stack)


def signed_in_at_cas(page: Any, stack: SamlStack) -> bool:
    page.goto(stack.cas + "/login")
    return not on_login_form(page)


def test_single_logout_from_shibboleth(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    wire = Wire()
    wire.watch(page)
    sign_in_at_sp(page, saml_stack, saml_stack.sp.secure)
    assert signed_in_at_cas(page, saml_stack)
    answer = page.goto(saml_stack.sp.logout_url(return_to=saml_stack.sp.public))
    page.wait_for_load_state("networkidle")
    # Shibboleth signs its LogoutRequest and encrypts the NameID for us (EncryptedID).
    request = next((m for m in wire.logout_messages if "LogoutRequest" in m), "")
    assert request, "Shibboleth sent no LogoutRequest"
    # Through our /idp/slo (the LogoutRequest), back to Shibboleth with a LogoutResponse.
    if not page.url.startswith(saml_stack.sp.url):
        gunicorn = saml_stack.logs[0].read_text(errors="replace")
        refused = [line for line in gunicorn.splitlines() if "refused" in line][-3:]
        raise AssertionError(
            f"the IdP did not answer Shibboleth's LogoutRequest (at {page.url[:80]}…, "
            f"HTTP {answer.status if answer else '?'}, EncryptedID: "
            f"{'EncryptedID' in request}): {refused}"
        )
    assert any("LogoutRequest" in m for m in wire.logout_messages), wire.logout_messages
    assert any("LogoutResponse" in m for m in wire.logout_messages), wire.logout_messages
    assert not signed_in_at_cas(page, saml_stack), "the CAS session outlived the SAML logout"
    page.goto(saml_stack.sp.public)
    assert "eppn" not in session_attributes(page.content())
    page.goto(saml_stack.sp.secure)
    page.wait_for_load_state("networkidle")
    assert on_login_form(page), page.url


def test_single_logout_from_cas(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    sign_in_at_sp(page, saml_stack, saml_stack.sp.secure)
    page.goto(saml_stack.cas + "/logout")
    # The logout page's hidden frame carries our LogoutRequest to Shibboleth.
    page.wait_for_load_state("networkidle")
    frames = [f.url for f in page.frames]
    assert any("/Shibboleth.sso/SLO/" in u or "/idp/slo" in u for u in frames), frames
    page.goto(saml_stack.sp.public)
    assert "eppn" not in session_attributes(page.content()), "Shibboleth's session survived"
    page.goto(saml_stack.sp.secure)
    page.wait_for_load_state("networkidle")
    assert on_login_form(page), page.url


def test_force_authn_asks_for_the_password_again(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    wire = Wire()
    wire.watch(page)
    sign_in_at_sp(page, saml_stack, saml_stack.sp.secure)
    page.goto(saml_stack.sp.login_url(forceAuthn="true"))
    page.wait_for_load_state("networkidle")
    assert on_login_form(page), page.url
    assert (
        'ForceAuthn="1"' in wire.authn_requests[-1]
        or 'ForceAuthn="true"' in wire.authn_requests[-1]
    )
    sign_in(page, *STUDENT)
    check_student(arrive(page, saml_stack), saml_stack)


def test_is_passive_without_a_session_comes_back_without_one(
    saml_stack: SamlStack, shib_page: Any
) -> None:
    """No login page: our NoPassive status goes straight back to Shibboleth, which (as its
    docs say, unless ``redirectErrors`` is set) shows its error page and makes no session."""
    page = shib_page
    wire = Wire()
    wire.watch(page)
    page.goto(saml_stack.sp.login_url(saml_stack.sp.public, isPassive="true"))
    page.wait_for_url(re.compile(re.escape(saml_stack.sp.url) + "/Shibboleth.sso/SAML2/POST"))
    page.wait_for_load_state("networkidle")
    assert 'IsPassive="1"' in wire.authn_requests[-1], wire.authn_requests[-1:]
    assert wire.responses, "no SAMLResponse went back to Shibboleth"
    answer = wire.responses[-1]
    assert "urn:oasis:names:tc:SAML:2.0:status:NoPassive" in answer, answer[:2000]
    assert "Assertion" not in answer, answer[:2000]
    assert not any(
        r.url.startswith(saml_stack.cas + "/login") and r.method == "POST" for r in wire.seen
    )
    transactions = (saml_stack.sp.folder / "shibd.log").read_text(errors="replace")
    assert "status:NoPassive" in transactions
    page.goto(saml_stack.sp.public)
    attributes = session_attributes(page.content())
    assert "eppn" not in attributes and not attributes.get("Shib-Session-ID"), attributes


def test_is_passive_with_a_session_signs_in_silently(saml_stack: SamlStack, shib_page: Any) -> None:
    page = shib_page
    page.goto(saml_stack.cas + "/login")
    sign_in(page, *STUDENT)
    page.goto(saml_stack.sp.login_url(saml_stack.sp.public, isPassive="true"))
    page.wait_for_load_state("networkidle")
    assert not on_login_form(page), page.url
    attributes = arrive(page, saml_stack)
    assert attributes.get("eppn") == f"etudiant@{SCOPE}", attributes
