"""Single logout message (cas_server.protocol.cas.slo), CAS 3.0 2.3.3 and Appendix C."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree  # type: ignore[import-untyped]

from cas_server.protocol.cas.services import RegisteredService, ServiceRegistry
from cas_server.protocol.cas.slo import (
    compress_message,
    front_channel_requests,
    front_channel_url,
    logout_form_body,
    logout_request,
    plan_logout,
)
from cas_server.protocol.cas.tickets import SingleLogoutTarget
from cas_server.protocol.cas.urls import origin

SAMLP2 = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
NOW = 1_763_819_100.0  # 2025-11-22T13:45:00Z
TICKET = "ST-3xQ0123456789abcdefghij"


def parse(document: str) -> Any:
    return etree.fromstring(document.encode("utf-8"))


def test_exact_document_shape_of_appendix_c() -> None:
    document = logout_request(session_index=TICKET, name_id="jdoe", now=NOW)
    pattern = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'ID="_[0-9a-f]{32}" Version="2.0" IssueInstant="2025-11-22T13:45:00Z">'
        '<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">jdoe</saml:NameID>'
        f"<samlp:SessionIndex>{TICKET}</samlp:SessionIndex></samlp:LogoutRequest>"
    )
    assert re.fullmatch(pattern, document)


def test_structure_parsed() -> None:
    root = parse(logout_request(session_index=TICKET, name_id="jdoe", now=NOW))
    assert root.tag == f"{{{SAMLP2}}}LogoutRequest"
    assert root.prefix == "samlp"
    assert set(root.attrib) == {"ID", "Version", "IssueInstant"}
    assert root.get("Version") == "2.0"
    assert root.get("IssueInstant") == "2025-11-22T13:45:00Z"
    assert [c.tag for c in root] == [f"{{{SAML2}}}NameID", f"{{{SAMLP2}}}SessionIndex"]
    assert root[0].text == "jdoe"
    assert root[1].text == TICKET


def test_ids_are_random() -> None:
    ids = {parse(logout_request(session_index=TICKET, name_id="u", now=NOW)).get("ID")}
    ids |= {parse(logout_request(session_index=TICKET, name_id="u", now=NOW)).get("ID")}
    assert len(ids) == 2


def test_empty_name_id_falls_back_to_not_used() -> None:
    root = parse(logout_request(session_index=TICKET, name_id="", now=NOW))
    assert root[0].text == "@NOT_USED@"


def test_hostile_values_escaped() -> None:
    hostile = '<script>x</script> & "q" \x00\x1f'
    document = logout_request(session_index='ST-<&>"', name_id=hostile, now=NOW)
    assert "<script>" not in document
    root = parse(document)
    assert root[0].text == '<script>x</script> & "q" '
    assert root[1].text == 'ST-<&>"'


def test_form_body() -> None:
    assert logout_form_body("<x/>") == {"logoutRequest": "<x/>"}


def test_python_cas_client_finds_session_index() -> None:
    cas = pytest.importorskip("cas")
    document = logout_request(session_index=TICKET, name_id="jdoe", now=NOW)
    assert cas.CASClientV3.verify_logout_request(document, TICKET) is True
    assert cas.CASClientV3.verify_logout_request(document, "ST-other") is False


# Front channel (Apereo CAS's FRONT_CHANNEL): the browser GETs the logout URL.


def _registry() -> ServiceRegistry:
    def service(sid: str, logout_type: str, logout_url: str | None) -> RegisteredService:
        return RegisteredService(
            id=sid,
            name=f"Service {sid}",
            url_pattern=re.compile(f"https://{sid}\\.example\\.org/.*"),
            logout_url=logout_url,
            logout_type=logout_type,
        )

    return ServiceRegistry(
        [
            service("back", "back_channel", "https://back.example.org/slo"),
            service("front", "front_channel", "https://front.example.org/slo?app=1"),
            service("none", "none", "https://none.example.org/slo"),
        ]
    )


def _target(service_id: str, ticket: str = TICKET) -> SingleLogoutTarget:
    return SingleLogoutTarget(
        f"https://{service_id}.example.org/",
        service_id,
        f"https://{service_id}.example.org/old",
        ticket,
    )


def test_single_logout_url_for_both_channels_only() -> None:
    registry = _registry()
    issued_for = "https://back.example.org/page"
    assert registry.get("back").single_logout_url(issued_for) == "https://back.example.org/slo"
    front = registry.get("front").single_logout_url(issued_for)
    assert front == "https://front.example.org/slo?app=1"
    assert registry.get("none").single_logout_url(issued_for) is None
    assert registry.get("front").front_channel and not registry.get("back").front_channel


def test_without_logout_url_single_logout_goes_to_the_service_url() -> None:
    """CAS 3.0 2.3.3, as Apereo CAS: the URL the ticket was issued for (issue #12, item 5)."""
    for logout_type in ("back_channel", "front_channel"):
        service = RegisteredService(
            id="s",
            name="S",
            url_pattern=re.compile("https://s\\.example\\.org/.*"),
            logout_type=logout_type,
        )
        url = "https://s.example.org/moodle/?x=1"
        assert service.single_logout_url(url) == url
    none = RegisteredService(id="n", name="N", url_pattern=re.compile(".*"), logout_type="none")
    assert none.single_logout_url("https://n.example.org/") is None
    registry = ServiceRegistry([service])
    plan = plan_logout([SingleLogoutTarget(url, "s", url, TICKET)], registry)
    assert plan.front_channel and not plan.back_channel  # the last one is front_channel


def test_compressed_message_is_zlib_deflate_in_base64() -> None:

    document = logout_request(session_index=TICKET, name_id="jdoe", now=NOW)
    raw = base64.b64decode(compress_message(document), validate=True)
    assert raw[:1] == b"\x78"  # zlib header, as java.util.zip.Deflater() writes
    assert zlib.decompress(raw).decode("utf-8") == document


def test_front_channel_url_adds_the_parameter_to_the_query() -> None:
    document = logout_request(session_index=TICKET, name_id="jdoe", now=NOW)
    for logout_url, query in (
        ("https://a.example.org/slo", {}),
        ("https://a.example.org/slo?app=1&x=y", {"app": ["1"], "x": ["y"]}),
        ("https://a.example.org/slo#frag", {}),
    ):
        url = front_channel_url(logout_url, document)
        parts = urlsplit(url)
        assert (
            f"{parts.scheme}://{parts.netloc}{parts.path}" == logout_url.split("?")[0].split("#")[0]
        )
        assert not parts.fragment
        params = parse_qs(parts.query)
        [value] = params.pop("logoutRequest")
        assert params == query
        assert zlib.decompress(base64.b64decode(value)).decode("utf-8") == document


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://App.Example.org/slo?x=1", "https://app.example.org"),
        ("http://127.0.0.1:8080/logout", "http://127.0.0.1:8080"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("javascript:alert(1)", None),
        ("https://user@evil.example.org/", None),
        ("https://a.example.org;script-src *", None),
        ("https://a.example.org x/", None),
        ("ftp://a.example.org/", None),
        ("https:///nohost", None),
    ],
)
def test_origin_is_safe_for_a_csp_source_list(url: str, expected: str | None) -> None:
    assert origin(url) == expected


def test_plan_splits_by_the_logout_type_defined_now() -> None:
    targets = [_target("back"), _target("front"), _target("gone"), _target("none")]
    plan = plan_logout(targets, _registry())
    assert [t.service_id for t in plan.back_channel] == ["back", "gone"]
    assert [t.service_id for t in plan.front_channel] == ["front"]


def test_front_channel_requests_one_per_ticket() -> None:
    targets = [_target("front", "ST-1"), _target("front", "ST-2")]
    requests = front_channel_requests(targets, _registry(), name_id="jdoe", now=NOW)
    assert [(r.service_id, r.service_name, r.origin) for r in requests] == [
        ("front", "Service front", "https://front.example.org")
    ] * 2
    indexes = []
    for request in requests:
        assert request.url.startswith("https://front.example.org/slo?app=1&logoutRequest=")
        [value] = parse_qs(urlsplit(request.url).query)["logoutRequest"]
        root = parse(zlib.decompress(base64.b64decode(value)).decode("utf-8"))
        assert root[0].text == "jdoe"
        indexes.append(root[1].text)
    assert indexes == ["ST-1", "ST-2"]
