"""Release rules (cas_server.protocol.saml2.policy, name_id, consent, requests, errors):
abuse cases first — look-alike entity ids, refused SPs, NameID policy, consent digests."""

from __future__ import annotations

import pytest

from cas_server.protocol.saml2 import errors
from cas_server.protocol.saml2.consent import consent_digest, consent_needed
from cas_server.protocol.saml2.errors import (
    BadRequest,
    InvalidNameIdPolicy,
    NoAuthnContext,
    NoPassive,
    RequestDenied,
    RequestReplayed,
    SamlError,
    UnknownServiceProvider,
)
from cas_server.protocol.saml2.name_id import (
    EMAIL,
    ENCRYPTED,
    PERSISTENT,
    TRANSIENT,
    UNSPECIFIED,
    choose_format,
    format_from_name,
)
from cas_server.protocol.saml2.policy import (
    CODE_OF_CONDUCT_V1,
    CODE_OF_CONDUCT_V2,
    REFUSED,
    RESEARCH_AND_SCHOLARSHIP,
    ReleasePolicy,
    ReleaseRules,
    ServiceProvider,
)
from cas_server.protocol.saml2.requests import (
    MAX_RELAY_STATE,
    REQUEST_ID_WINDOW,
    AuthnRequestInfo,
    replay_key,
)

ENT = "https://ent.univ.fr/shibboleth"
MINIMAL = ReleasePolicy("minimal", ("eduPersonScopedAffiliation", "pairwise-id"))
ENT_POLICY = ReleasePolicy("ent", ("eduPersonPrincipalName", "mail", "supannEtuId"), consent=True)
RS = ReleasePolicy("rs", ("eduPersonPrincipalName", "mail", "displayName", "pairwise-id"))
COCO = ReleasePolicy(
    "coco",
    ("pairwise-id", "subject-id", "mail", "displayName", "eduPersonScopedAffiliation"),
    requested_only=True,
)
POLICIES = {p.name: p for p in (MINIMAL, ENT_POLICY, RS, COCO)}


def sp(entity_id: str = ENT, **kw: object) -> ServiceProvider:
    return ServiceProvider(entity_id, entity_id, "file:/x.xml", **kw)  # type: ignore[arg-type]


def rules(default: str | None = "minimal", **kw: object) -> ReleaseRules:
    return ReleaseRules(
        POLICIES,
        {ENT: "ent", "https://evil.example/": REFUSED},
        {RESEARCH_AND_SCHOLARSHIP: "rs", CODE_OF_CONDUCT_V1: "coco", CODE_OF_CONDUCT_V2: "coco"},
        default,
    )


# --- policy choice -------------------------------------------------------------------


@pytest.mark.parametrize(
    "look_alike",
    [
        "https://ENT.univ.fr/shibboleth",
        "https://ent.univ.fr/shibboleth/",
        "https://ent.univ.fr/Shibboleth",
        "https://ent.univ.fr/shibboleth ",
        " https://ent.univ.fr/shibboleth",
        "http://ent.univ.fr/shibboleth",
        "https://ent.univ.fr/shibboleth\x00",
        "https://ent.univ.fr/shibboleth?x=1",
        "https://ent.univ.fr/shibbolet",
    ],
)
def test_a_look_alike_entity_id_never_gets_another_sps_policy(look_alike: str) -> None:
    r = rules()
    assert r.policy_for(sp(ENT)).name == "ent"
    assert r.policy_for(sp(look_alike)).name == "minimal"
    assert r.describe(sp(look_alike)) == "minimal"


def test_a_look_alike_of_a_refused_sp_is_not_refused_and_the_refused_one_is() -> None:
    r = rules()
    with pytest.raises(RequestDenied):
        r.policy_for(sp("https://evil.example/"))
    assert r.describe(sp("https://evil.example/")) == REFUSED
    assert r.policy_for(sp("https://evil.example")).name == "minimal"


def test_without_a_default_unknown_sps_are_refused_with_request_denied() -> None:
    r = rules(default=None)
    with pytest.raises(RequestDenied) as caught:
        r.policy_for(sp("https://other.example/sp"))
    assert caught.value.substatus == errors.REQUEST_DENIED and caught.value.answerable
    assert r.describe(sp("https://other.example/sp")) == REFUSED


def test_an_entity_rule_wins_over_the_categories() -> None:
    r = rules()
    assert r.policy_for(sp(ENT, categories=(RESEARCH_AND_SCHOLARSHIP,))).name == "ent"


def test_the_first_listed_category_in_metadata_order_wins() -> None:
    r = rules()
    other = "https://other.example/sp"
    both = (CODE_OF_CONDUCT_V2, RESEARCH_AND_SCHOLARSHIP)
    assert r.policy_for(sp(other, categories=both)).name == "coco"
    assert r.policy_for(sp(other, categories=both[::-1])).name == "rs"
    assert r.policy_for(sp(other, categories=("http://unknown/cat", CODE_OF_CONDUCT_V1))).name == (
        "coco"
    )


def test_a_category_uri_differing_in_case_or_slash_is_not_the_category() -> None:
    r = rules()
    for fake in (RESEARCH_AND_SCHOLARSHIP + "/", RESEARCH_AND_SCHOLARSHIP.upper()):
        assert r.policy_for(sp("https://x.example/sp", categories=(fake,))).name == "minimal"


def test_rules_naming_an_unknown_policy_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="nope"):
        ReleaseRules(POLICIES, {ENT: "nope"}, {}, "minimal")
    with pytest.raises(ValueError, match="nope"):
        ReleaseRules(POLICIES, {}, {}, "nope")


def test_code_of_conduct_releases_only_what_the_sp_requests() -> None:
    r = rules()
    other = sp("https://coco.example/sp", categories=(CODE_OF_CONDUCT_V2,), requested_attributes=())
    assert r.released(other, r.policy_for(other)) == ()
    asking = sp(
        "https://coco.example/sp",
        categories=(CODE_OF_CONDUCT_V2,),
        requested_attributes=("mail", "supannEtuId", "pairwise-id"),
    )
    # supannEtuId is requested but not in the policy: not released.
    assert r.released(asking, r.policy_for(asking)) == ("pairwise-id", "mail")


def test_subject_id_req_narrows_the_identifiers() -> None:
    r = rules()
    policy = ReleasePolicy("both", ("mail", "pairwise-id", "subject-id"))
    assert r.released(sp(subject_id_req="pairwise"), policy) == ("mail", "pairwise-id")
    assert r.released(sp(subject_id_req="subject"), policy) == ("mail", "subject-id")
    assert r.released(sp(subject_id_req="any"), policy) == ("mail", "pairwise-id")
    assert r.released(sp(subject_id_req="none"), policy) == ("mail",)
    assert r.released(sp(), policy) == ("mail", "pairwise-id", "subject-id")
    # requested_only: the identifier the SP asks by subject-id:req counts as requested
    coco = sp(categories=(CODE_OF_CONDUCT_V1,), subject_id_req="pairwise")
    assert r.released(coco, COCO) == ("pairwise-id",)


def test_encryption_always_without_a_key_is_refused_never_sent_in_clear() -> None:
    always = ReleasePolicy("a", encrypt="always")
    with pytest.raises(RequestDenied):
        always.encrypts(sp(encryption_key=False))
    assert always.encrypts(sp(encryption_key=True))
    assert not ReleasePolicy("n", encrypt="never").encrypts(sp(encryption_key=True))
    assert ReleasePolicy("m").encrypts(sp(encryption_key=True))
    assert not ReleasePolicy("m").encrypts(sp(encryption_key=False))
    with pytest.raises(ValueError):
        ReleasePolicy("x", encrypt="sometimes")


# --- NameID --------------------------------------------------------------------------


def test_name_id_format_unspecified_or_absent_gets_the_first_allowed() -> None:
    assert choose_format(None, (PERSISTENT, TRANSIENT)) == PERSISTENT
    assert choose_format(UNSPECIFIED, (TRANSIENT, PERSISTENT)) == TRANSIENT
    assert choose_format(PERSISTENT, (TRANSIENT, PERSISTENT)) == PERSISTENT


@pytest.mark.parametrize(
    "requested",
    [
        EMAIL,
        ENCRYPTED,
        "urn:oasis:names:tc:SAML:2.0:nameid-format:PERSISTENT",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent ",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
        "",
    ],
)
def test_a_name_id_format_not_allowed_is_invalid_name_id_policy(requested: str) -> None:
    with pytest.raises(InvalidNameIdPolicy) as caught:
        choose_format(requested, (TRANSIENT, PERSISTENT))
    assert caught.value.status == errors.STATUS_REQUESTER
    assert caught.value.substatus == errors.INVALID_NAMEID_POLICY
    assert caught.value.answerable


def test_no_allowed_format_is_invalid_name_id_policy() -> None:
    with pytest.raises(InvalidNameIdPolicy):
        choose_format(None, ())


def test_short_format_names() -> None:
    assert format_from_name("transient") == TRANSIENT
    assert format_from_name(" Persistent ") == PERSISTENT
    assert format_from_name(PERSISTENT) == PERSISTENT
    assert format_from_name("x509") is None


# --- consent -------------------------------------------------------------------------


def test_the_consent_digest_changes_when_the_attribute_set_changes() -> None:
    base = consent_digest(ENT, ["mail", "displayName"])
    assert consent_digest(ENT, ["displayName", "mail", "mail"]) == base  # order, repeats
    assert consent_digest(ENT, ["mail", "displayName", "supannEtuId"]) != base
    assert consent_digest(ENT, ["mail"]) != base
    assert consent_digest(ENT + "/", ["mail", "displayName"]) != base
    # no ambiguity between the SP and the names
    assert consent_digest("a", ["b\nc"]) != consent_digest("a\nb", ["c"])
    assert len(base) == 64


def test_consent_is_needed_only_when_on_and_not_remembered_for_this_set() -> None:
    digest = consent_digest(ENT, ["mail"])
    assert consent_needed(True, True, None, digest)
    assert consent_needed(True, True, consent_digest(ENT, ["mail", "sn"]), digest)
    assert not consent_needed(True, True, digest, digest)
    assert not consent_needed(False, True, None, digest)  # the SP's policy asks none
    assert not consent_needed(True, False, None, digest)  # [saml] consent = false


# --- requests and errors -------------------------------------------------------------


def request(**kw: object) -> AuthnRequestInfo:
    base: dict[str, object] = {
        "sp_entity_id": ENT,
        "request_id": "_abc",
        "acs_url": "https://ent.univ.fr/Shibboleth.sso/SAML2/POST",
        "acs_binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        "relay_state": None,
    }
    base.update(kw)
    return AuthnRequestInfo(**base)  # type: ignore[arg-type]


def test_relay_state_over_1024_bytes_is_a_bad_request() -> None:
    assert request(relay_state="r" * MAX_RELAY_STATE).relay_state
    with pytest.raises(BadRequest):
        request(relay_state="r" * (MAX_RELAY_STATE + 1))
    with pytest.raises(BadRequest):  # bytes, not characters
        request(relay_state="é" * 513)


@pytest.mark.parametrize("comparison", ["EXACT", "at-least", "", "minimum "])
def test_an_unknown_comparison_is_a_bad_request(comparison: str) -> None:
    with pytest.raises(BadRequest):
        request(comparison=comparison)


def test_empty_or_huge_issuers_and_ids_are_bad_requests() -> None:
    with pytest.raises(BadRequest):
        request(sp_entity_id="")
    with pytest.raises(BadRequest):
        request(sp_entity_id="https://x/" + "a" * 1100)
    with pytest.raises(BadRequest):
        request(request_id="")
    with pytest.raises(BadRequest):
        request(request_id="x" * 300)
    assert request(request_id=None).unsolicited


def test_replay_keys_differ_per_sp_and_id_and_hide_them() -> None:
    key = replay_key(ENT, "_abc")
    assert key.startswith("saml-request:") and len(key) == len("saml-request:") + 64
    assert "_abc" not in key and "ent" not in key
    assert replay_key(ENT, "_abc") == key
    assert replay_key(ENT + "/", "_abc") != key
    assert replay_key(ENT, "_abd") != key
    assert replay_key("a|b", "c") != replay_key("a", "b|c")
    assert REQUEST_ID_WINDOW >= 300


def test_each_error_carries_its_status_and_whether_an_answer_may_be_sent() -> None:
    table = {
        BadRequest: (errors.STATUS_REQUESTER, None, False),
        UnknownServiceProvider: (errors.STATUS_RESPONDER, None, False),
        RequestReplayed: (errors.STATUS_REQUESTER, None, False),
        NoAuthnContext: (errors.STATUS_REQUESTER, errors.NO_AUTHN_CONTEXT, True),
        NoPassive: (errors.STATUS_REQUESTER, errors.NO_PASSIVE, True),
        RequestDenied: (errors.STATUS_RESPONDER, errors.REQUEST_DENIED, True),
        InvalidNameIdPolicy: (errors.STATUS_REQUESTER, errors.INVALID_NAMEID_POLICY, True),
    }
    for cls, (status, substatus, answerable) in table.items():
        error = cls("why")
        assert isinstance(error, SamlError)
        assert (error.status, error.substatus, error.answerable) == (status, substatus, answerable)
    assert errors.STATUS_SUCCESS == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert errors.INVALID_NAMEID_POLICY == "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
    assert errors.PARTIAL_LOGOUT.endswith(":status:PartialLogout")
    assert errors.UNKNOWN_PRINCIPAL.endswith(":status:UnknownPrincipal")


def test_an_error_message_is_cut_for_the_log() -> None:
    assert len(BadRequest("x" * 10_000).message) <= errors.MAX_MESSAGE
    assert SamlError().message == ""


def test_the_saml_rules_import_neither_the_cas_protocol_nor_a_library() -> None:
    """The two protocols share the session through ports only (ARCHITECTURE.md)."""
    import ast
    from pathlib import Path

    import cas_server.protocol.saml2 as package

    folder = Path(package.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert "protocol.cas" not in name and not name.startswith(".."), (path, name)
                assert name.split(".")[0] not in {"saml2", "lxml", "flask", "sqlalchemy"}, name
