"""Single logout through the binding with pysaml2's SP: our LogoutRequest (Redirect,
signed in the query) read by the SP, the SP's LogoutRequest and LogoutResponse read
by us (signature required: the SP has keys), our LogoutResponse read by the SP."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from saml2.s_utils import deflate_and_base64_encode
from saml2.saml import NameID
from saml2.sigver import verify_redirect_signature

from cas_server.protocol.saml2.errors import (
    PARTIAL_LOGOUT,
    STATUS_SUCCESS,
    BadRequest,
    UnknownServiceProvider,
)
from cas_server.protocol.saml2.name_id import TRANSIENT
from cas_server.protocol.saml2.ports import SamlParticipant
from cas_server.saml import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from cas_server.saml.idp import SamlIdentityProvider, build_identity_provider
from cas_server.settings.saml import SamlSettings
from tests.saml.conftest import ACS, IDP_ENTITY, IDP_URL, SLO, SP, FakeHttp
from tests.support.fakes import FakeClock
from tests.support.saml_keys import key_pair, write_sp_metadata

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
IDP_SLO = f"{IDP_URL}/idp/slo"


def participant(sp_entity_id: str = SP) -> SamlParticipant:
    return SamlParticipant(
        session_handle="handle-1",
        sp_entity_id=sp_entity_id,
        name_id="transient-42",
        name_id_format=TRANSIENT,
        session_index="session-42",
        created_at=time.time(),
    )


def query_of(url: str) -> tuple[str, dict[str, str]]:
    query = urlsplit(url).query
    return query, {k: v[0] for k, v in parse_qs(query).items()}


def sp_logout_request(
    sp: Any, *, sign: bool, binding: str = BINDING_HTTP_REDIRECT
) -> tuple[str, dict[str, Any]]:
    name_id = NameID(format=TRANSIENT, text="transient-42")
    request_id, request = sp.create_logout_request(
        IDP_SLO, IDP_ENTITY, name_id=name_id, session_indexes=["session-42"],
        sign=sign and binding == BINDING_HTTP_POST, sign_alg=RSA_SHA256,
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )  # fmt: skip
    if binding == BINDING_HTTP_POST:
        return request_id, {
            "binding": binding,
            "saml_request": base64.b64encode(str(request).encode()).decode(),
            "relay_state": "back",
        }
    info = sp.apply_binding(
        binding,
        str(request),
        IDP_SLO,
        relay_state="back",
        sign=sign,
        sigalg=RSA_SHA256 if sign else None,
    )
    query, params = query_of(dict(info["headers"])["Location"])
    return request_id, {
        "binding": binding,
        "saml_request": params["SAMLRequest"],
        "relay_state": params.get("RelayState"),
        "sig_alg": params.get("SigAlg"),
        "signature": params.get("Signature"),
        "query_string": query,
    }


def test_our_logout_request_is_read_by_the_sp(idp: SamlIdentityProvider, sp: Any) -> None:
    out = idp.logout_request(participant())
    assert out is not None and out.binding == BINDING_HTTP_REDIRECT and out.fields == {}
    assert out.url.startswith(SLO + "?")
    _, params = query_of(out.url)
    assert params["SigAlg"] == RSA_SHA256
    assert verify_redirect_signature(params, sp.sec.sec_backend, cert=key_pair("idp").cert_b64)
    forged = {**params, "SAMLRequest": deflate_and_base64_encode("<x/>")}
    assert not verify_redirect_signature(forged, sp.sec.sec_backend, cert=key_pair("idp").cert_b64)
    request = sp.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
    message = request.message
    assert message.name_id.text == "transient-42" and message.name_id.format == TRANSIENT
    assert [s.text for s in message.session_index] == ["session-42"]
    assert message.issuer.text == IDP_ENTITY and message.destination == SLO


def test_no_logout_request_without_slo(
    make_settings: Callable[..., SamlSettings], tmp_path: Path, http: FakeHttp, clock: FakeClock
) -> None:
    path = write_sp_metadata(tmp_path / "noslo.xml", SP, ACS)
    idp = build_identity_provider(
        make_settings(sp_files=(str(path),)), http, clock, public_url=IDP_URL, background=False
    )
    assert idp.logout_request(participant()) is None
    assert idp.logout_request(participant("https://gone.example.org/sp")) is None


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_sp_logout_request_is_parsed(idp: SamlIdentityProvider, sp: Any, binding: str) -> None:
    request_id, args = sp_logout_request(sp, sign=True, binding=binding)
    info = idp.parse_logout_request(**args)
    assert info.sp_entity_id == SP and info.request_id == request_id
    assert (info.name_id, info.name_id_format) == ("transient-42", TRANSIENT)
    assert info.session_indexes == ("session-42",)
    assert (info.relay_state, info.binding) == ("back", binding)


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_unsigned_sp_logout_request_is_refused(
    idp: SamlIdentityProvider, sp: Any, binding: str
) -> None:
    _, args = sp_logout_request(sp, sign=False, binding=binding)
    with pytest.raises(BadRequest, match="signed"):
        idp.parse_logout_request(**args)


def test_logout_request_from_an_unknown_sp(idp: SamlIdentityProvider) -> None:
    from tests.support.saml_keys import sp_client

    stranger = sp_client(
        "https://stranger.example.com/sp",
        "https://stranger.example.com/acs",
        idp.metadata_xml(),
        keys="stranger",
    )
    _, args = sp_logout_request(stranger, sign=True)
    with pytest.raises(UnknownServiceProvider):
        idp.parse_logout_request(**args)


def test_expired_logout_request_is_refused(
    idp: SamlIdentityProvider, sp: Any, clock: FakeClock
) -> None:
    _, args = sp_logout_request(sp, sign=True)
    clock.advance(600)
    with pytest.raises(BadRequest):
        idp.parse_logout_request(**args)


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_our_logout_response_is_read_by_the_sp(
    idp: SamlIdentityProvider, sp: Any, binding: str
) -> None:
    request_id, args = sp_logout_request(sp, sign=True, binding=binding)
    info = idp.parse_logout_request(**args)
    out = idp.logout_response(info)
    assert out.binding == binding
    if binding == BINDING_HTTP_REDIRECT:
        assert out.url.startswith(SLO + "?")
        _, params = query_of(out.url)
        assert params["RelayState"] == "back"
        assert verify_redirect_signature(params, sp.sec.sec_backend, cert=key_pair("idp").cert_b64)
        encoded = params["SAMLResponse"]
    else:
        assert out.url == SLO and out.fields["RelayState"] == "back"
        encoded = out.fields["SAMLResponse"]
    response = sp.parse_logout_request_response(encoded, binding)
    assert response is not None
    assert response.response.in_response_to == request_id
    assert response.response.status.status_code.value == STATUS_SUCCESS


def test_partial_logout_status(idp: SamlIdentityProvider, sp: Any) -> None:
    _, args = sp_logout_request(sp, sign=True, binding=BINDING_HTTP_POST)
    out = idp.logout_response(idp.parse_logout_request(**args), PARTIAL_LOGOUT)
    assert PARTIAL_LOGOUT.encode() in base64.b64decode(out.fields["SAMLResponse"])


def test_sp_logout_response_is_parsed(idp: SamlIdentityProvider, sp: Any) -> None:
    ours = idp.logout_request(participant())
    assert ours is not None
    _, params = query_of(ours.url)
    request = sp.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
    response = sp.create_logout_response(
        request.message, bindings=[BINDING_HTTP_REDIRECT], sign=False
    )
    info = sp.apply_binding(
        BINDING_HTTP_REDIRECT, str(response), IDP_SLO, relay_state="frame-1",
        response=True, sign=True, sigalg=RSA_SHA256,
    )  # fmt: skip
    query, values = query_of(dict(info["headers"])["Location"])
    parsed = idp.parse_logout_response(
        BINDING_HTTP_REDIRECT, values["SAMLResponse"], values.get("RelayState"),
        values.get("SigAlg"), values.get("Signature"), query,
    )  # fmt: skip
    assert parsed.sp_entity_id == SP and parsed.status == STATUS_SUCCESS
    assert parsed.in_response_to == request.message.id and parsed.relay_state == "frame-1"
    # The same response without its signature is refused.
    unsigned = query.split("&SigAlg=")[0]
    with pytest.raises(BadRequest):
        idp.parse_logout_response(
            BINDING_HTTP_REDIRECT, values["SAMLResponse"], "frame-1", None, None, unsigned
        )
