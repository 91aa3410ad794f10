"""What the SAML web tests share: the IdP in the test process, in-process pysaml2 SPs.

``saml_overrides`` turns ``[saml]`` on with H2's test keys (``tests/support/saml_keys``)
and three SPs whose metadata files are written before the app starts:

- ``SP1`` (R&S policy, SLO endpoint), the usual SP;
- ``SP2`` signs its AuthnRequests (``AuthnRequestsSigned``), policy ``consented``
  (consent asked, mail + displayName + eduPersonPrincipalName);
- ``SP3`` has the policy ``strong`` (``mfa_required``);
- ``SP4`` has the default policy (``minimal``) and an SLO endpoint;
- ``SP5`` publishes an encryption key (policy ``minimal``, encrypt "metadata").

``SamlSp`` drives one of them: builds an AuthnRequest (either binding), follows the
IdP's answer as a browser would (the CAS login form included) and reads the
auto-submitted Response with pysaml2 (signature, audience, InResponseTo).
"""

from __future__ import annotations

import base64
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.app import CasBrowser
from tests.support.saml_keys import key_pair, sp_client, write_sp_metadata

PUBLIC_URL = "https://cas.univ-test.fr"
IDP_ENTITY = PUBLIC_URL + "/idp/metadata"
SP1 = "https://sp1.example.org/sp"
SP1_ACS = "https://sp1.example.org/acs"
SP1_SLO = "https://sp1.example.org/slo"
SP2 = "https://sp2.example.org/sp"
SP2_ACS = "https://sp2.example.org/acs"
SP3 = "https://sp3.example.org/sp"
SP3_ACS = "https://sp3.example.org/acs"
SP3_SLO = "https://sp3.example.org/slo"
SP4 = "https://sp4.example.org/sp"
SP4_ACS = "https://sp4.example.org/acs"
SP4_SLO = "https://sp4.example.org/slo"
SP5 = "https://sp5.example.org/sp"
SP5_ACS = "https://sp5.example.org/acs"
STRANGER = "https://stranger.example.org/sp"
SPS: dict[str, dict[str, Any]] = {
    SP1: {"acs_url": SP1_ACS, "slo_url": SP1_SLO, "encryption": False},
    SP2: {"acs_url": SP2_ACS, "keys": "sp2", "authn_requests_signed": True, "encryption": False},
    SP3: {"acs_url": SP3_ACS, "keys": "sp3", "slo_url": SP3_SLO, "encryption": False},
    SP4: {"acs_url": SP4_ACS, "keys": "sp4", "slo_url": SP4_SLO, "encryption": False},
    SP5: {"acs_url": SP5_ACS, "keys": "sp5", "encryption": True},
}
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def write_sp_files(tmp_path: Path) -> list[str]:
    paths = []
    for entity_id, options in SPS.items():
        options = dict(options)
        acs = options.pop("acs_url")
        name = urlsplit(entity_id).hostname
        paths.append(
            str(write_sp_metadata(tmp_path / "sps" / f"{name}.xml", entity_id, acs, **options))
        )
    return paths


def saml_overrides(sp_files: list[str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    idp = key_pair("idp")
    return {
        "server": {"public_url": PUBLIC_URL},
        "saml": {
            "enabled": True,
            "key_file": idp.key_file,
            "cert_file": idp.cert_file,
            "scope": "univ-test.fr",
            "sp_files": sp_files,
            "metadata_cache_dir": str(tmp_path / "saml-cache"),
            "policies": {
                "consented": {
                    "attributes": ["mail", "displayName", "eduPersonPrincipalName"],
                    "consent": True,
                },
                "strong": {"attributes": ["eduPersonPrincipalName"], "mfa_required": True},
            },
            "release": {
                SP1: "research-and-scholarship",
                SP2: "consented",
                SP3: "strong",
            },
        },
    }


def form_fields(response: TestResponse) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of an auto-submitted POST page."""
    html = response.get_data(as_text=True)
    action = re.search(r'<form[^>]*action="([^"]*)"', html)
    assert action, html[:800]
    fields = {
        unescape(m.group(1)): unescape(m.group(2))
        for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }
    return unescape(action.group(1)), fields


def local(url: str) -> str:
    """A URL of the IdP as the test client takes it (path and query)."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def page_text(response: TestResponse) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


class SamlSp:
    """One in-process pysaml2 SP, talking to the IdP through a Flask test client."""

    def __init__(self, client: FlaskClient, entity_id: str, **options: Any) -> None:
        self.client = client
        english(client)
        self.entity_id = entity_id
        spec = dict(SPS.get(entity_id, {"acs_url": "https://stranger.example.org/acs"}))
        spec.update(options)
        self.acs = spec.pop("acs_url")
        metadata = client.get("/idp/metadata")
        assert metadata.status_code == 200, metadata.status_code
        self.sp = sp_client(entity_id, self.acs, metadata.get_data(), **spec)
        self.request_id: str | None = None

    def request(
        self, binding: str = BINDING_REDIRECT, relay_state: str = "rs-1", **kwargs: Any
    ) -> tuple[str, dict[str, str]]:
        """An AuthnRequest: (URL, POST fields) — the fields are empty for Redirect."""
        request_id, info = self.sp.prepare_for_authenticate(
            entityid=IDP_ENTITY, binding=binding, relay_state=relay_state, **kwargs
        )
        self.request_id = request_id
        if binding == BINDING_REDIRECT:
            return dict(info["headers"])["Location"], {}
        html = info["data"]
        action = re.search(r'action="([^"]*)"', html)
        assert action
        fields = {
            m.group(1): unescape(m.group(2))
            for m in re.finditer(r'name="([^"]+)" value="([^"]*)"', html)
        }
        return unescape(action.group(1)), fields

    def send(self, binding: str = BINDING_REDIRECT, **kwargs: Any) -> TestResponse:
        url, fields = self.request(binding, **kwargs)
        if binding == BINDING_REDIRECT:
            return self.client.get(local(url))
        return self.client.post(local(url), data=fields)

    def login_through_cas(self, response: TestResponse, login: str = "alice") -> TestResponse:
        """From the redirect to /login: the password, then back to /idp/resume."""
        assert response.status_code in (302, 303), (response.status_code, page_text(response))
        where = response.headers["Location"]
        assert urlsplit(where).path.endswith("/login"), where
        service = parse_qs(urlsplit(where).query)["service"][0]
        extra = {"renew": "true"} if "renew=true" in where else {}
        signed_in = CasBrowser(self.client).login(username=login, service=service, **extra)
        assert signed_in.status_code == 302, page_text(signed_in)[:600]
        back = signed_in.headers["Location"]
        assert back.startswith(PUBLIC_URL + "/idp/resume"), back
        return self.client.get(local(back))

    def response(self, page: TestResponse) -> Any:
        """The SAML Response of the auto-submitted page, checked by pysaml2 as the SP."""
        assert page.status_code == 200, (page.status_code, page_text(page)[:600])
        action, fields = form_fields(page)
        assert action == self.acs, action
        assert "SAMLResponse" in fields, fields
        outstanding = {self.request_id: "/"} if self.request_id else {}
        return self.sp.parse_authn_request_response(
            fields["SAMLResponse"], BINDING_POST, outstanding=outstanding
        )

    def status_of(self, page: TestResponse) -> tuple[str, str | None]:
        """The (status, substatus) of an error Response, read from its XML."""
        _, fields = form_fields(page)
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        codes = re.findall(r'StatusCode Value="([^"]+)"', xml)
        assert codes, xml[:800]
        return codes[0], codes[1] if len(codes) > 1 else None


def english(client: FlaskClient) -> None:
    """The pages in English (the deployment's default language is French)."""
    client.set_cookie("lang", "en", domain="localhost")


def sign_in(client: FlaskClient, login: str = "alice") -> None:
    """A live SSO session in this client (the CAS login form, no service)."""
    english(client)
    response = CasBrowser(client).login(username=login)
    assert response.status_code == 200, page_text(response)[:400]
    assert client.get_cookie("TGC") is not None
