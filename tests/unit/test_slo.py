"""Single logout message (cas_server.protocol.slo), CAS 3.0 2.3.3 and Appendix C."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]

from cas_server.protocol.slo import logout_form_body, logout_request

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
