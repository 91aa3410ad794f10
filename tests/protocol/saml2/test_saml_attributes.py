"""The attribute catalog and its resolution, and the subject identifiers
(cas_server.protocol.saml2.attributes, identifiers): OIDs of the published schemas,
pairwise ids per SP that never hold the login, values with control characters dropped."""

from __future__ import annotations

import re

import pytest

from cas_server.protocol.saml2 import identifiers as ids
from cas_server.protocol.saml2.attributes import (
    CATALOG,
    URI,
    by_name,
    clean_value,
    label,
    resolve,
)

SALT = b"s" * 32
UUID = "6f1c2e9a-5b7d-4c3e-9f0a-1b2c3d4e5f60"
LOGIN = "jdupont"
SCOPE = "univ-exemple.fr"
SP1 = "https://sp1.example.org/shibboleth"
SP2 = "https://sp2.example.org/shibboleth"
PRINCIPAL = {
    "uid": (LOGIN,),
    "mail": ("jean.dupont@univ-exemple.fr",),
    "displayName": ("Jean Dupont",),
    "givenName": ("Jean",),
    "sn": ("Dupont",),
    "eduPersonAffiliation": ("student", "member", "etudiant"),
    "supannEtuId": ("21001234",),
    "supannEtablissement": ("{UAI}0751234X",),
}

# Published OIDs (eduPerson 202208, SupAnn 2021, SCHAC, inetOrgPerson, X.520, COSINE).
EXPECTED = {
    "eduPersonAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    "eduPersonPrimaryAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.5",
    "eduPersonPrincipalName": "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    "eduPersonEntitlement": "urn:oid:1.3.6.1.4.1.5923.1.1.1.7",
    "eduPersonScopedAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
    "eduPersonAssurance": "urn:oid:1.3.6.1.4.1.5923.1.1.1.11",
    "eduPersonUniqueId": "urn:oid:1.3.6.1.4.1.5923.1.1.1.13",
    "eduPersonOrcid": "urn:oid:1.3.6.1.4.1.5923.1.1.1.16",
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "uid": "urn:oid:0.9.2342.19200300.100.1.1",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    "cn": "urn:oid:2.5.4.3",
    "employeeNumber": "urn:oid:2.16.840.1.113730.3.1.3",
    "preferredLanguage": "urn:oid:2.16.840.1.113730.3.1.39",
    "schacHomeOrganization": "urn:oid:1.3.6.1.4.1.25178.1.2.9",
    "schacHomeOrganizationType": "urn:oid:1.3.6.1.4.1.25178.1.2.10",
    "isMemberOf": "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    "supannListeRouge": "urn:oid:1.3.6.1.4.1.7135.1.2.1.1",
    "supannCivilite": "urn:oid:1.3.6.1.4.1.7135.1.2.1.4",
    "supannEntiteAffectation": "urn:oid:1.3.6.1.4.1.7135.1.2.1.8",
    "supannCodeINE": "urn:oid:1.3.6.1.4.1.7135.1.2.1.9",
    "supannEtuId": "urn:oid:1.3.6.1.4.1.7135.1.2.1.10",
    "supannEmpId": "urn:oid:1.3.6.1.4.1.7135.1.2.1.11",
    "supannEtablissement": "urn:oid:1.3.6.1.4.1.7135.1.2.1.14",
    "supannAliasLogin": "urn:oid:1.3.6.1.4.1.7135.1.2.1.20",
    "supannEmpProfil": "urn:oid:1.3.6.1.4.1.7135.1.2.1.56",
    "subject-id": "urn:oasis:names:tc:SAML:attribute:subject-id",
    "pairwise-id": "urn:oasis:names:tc:SAML:attribute:pairwise-id",
}


def ours(released: tuple[str, ...], sp: str = SP1, **kw: object) -> dict[str, tuple[str, ...]]:
    args: dict[str, object] = {
        "login": LOGIN,
        "scope": SCOPE,
        "identifiers": ids.identifiers_for(SALT, sp, UUID, SCOPE),
    }
    args.update(kw)
    principal = args.pop("principal", PRINCIPAL)
    mapping = args.pop("mapping", {})
    return resolve(principal, mapping, released, **args)  # type: ignore[arg-type]


# --- catalog -------------------------------------------------------------------------


def test_catalog_names_are_the_published_oids() -> None:
    for friendly, name in EXPECTED.items():
        assert CATALOG[friendly].name == name, friendly
        assert CATALOG[friendly].name_format == URI


def test_catalog_names_are_unique_and_every_entry_has_a_label() -> None:
    names = [a.name for a in CATALOG.values()]
    assert len(names) == len(set(names))
    assert all(a.label for a in CATALOG.values())
    assert all(
        re.fullmatch(r"urn:oid:[0-9.]+|urn:oasis:names:tc:SAML:attribute:[a-z-]+", n) for n in names
    )


def test_by_name_takes_the_oid_or_the_friendly_name_in_any_case() -> None:
    mail = CATALOG["mail"]
    assert by_name("urn:oid:0.9.2342.19200300.100.1.3") is mail
    assert by_name("mail") is mail and by_name("MAIL") is mail
    assert by_name("supannetuid") is CATALOG["supannEtuId"]
    assert by_name("urn:oid:0.9.2342.19200300.100.1.3 ") is None
    assert by_name("urn:oid:1.2.3") is None
    assert label("mail") == "E-mail address" and label("unknownAttr") == "unknownAttr"


# --- resolution ----------------------------------------------------------------------


def test_eppn_and_scoped_affiliation_are_computed_with_the_scope() -> None:
    got = ours(("eduPersonPrincipalName", "eduPersonScopedAffiliation", "schacHomeOrganization"))
    assert got["eduPersonPrincipalName"] == (f"{LOGIN}@{SCOPE}",)
    # "etudiant" is not in the eduPerson vocabulary: never scoped nor released
    assert got["eduPersonScopedAffiliation"] == (f"student@{SCOPE}", f"member@{SCOPE}")
    assert got["schacHomeOrganization"] == (SCOPE,)


def test_a_login_with_an_at_sign_gives_no_eppn_rather_than_a_false_one() -> None:
    assert "eduPersonPrincipalName" not in ours(("eduPersonPrincipalName",), login="a@b.fr")
    assert "eduPersonPrincipalName" not in ours(("eduPersonPrincipalName",), login="")


def test_mapping_renames_the_principal_attribute_and_overrides_computation() -> None:
    principal = {**PRINCIPAL, "emailAddress": ("x@univ-exemple.fr",), "eppn": ("j@other.fr",)}
    got = ours(
        ("mail", "eduPersonPrincipalName"),
        principal=principal,
        mapping={"mail": "emailAddress", "eduPersonPrincipalName": "eppn"},
    )
    assert got == {"eduPersonPrincipalName": ("j@other.fr",), "mail": ("x@univ-exemple.fr",)}


def test_only_released_names_come_out_unknown_ones_ignored_in_catalog_order() -> None:
    got = ours(("supannEtuId", "mail", "nonsense", "cn", "displayName"))
    assert list(got) == ["mail", "displayName", "supannEtuId"]  # cn: no value, left out
    assert got["supannEtuId"] == ("21001234",)


@pytest.mark.parametrize(
    "bad",
    [
        "Jean\x00Dupont",
        "Jean\nDupont",
        "Jean\rDupont",
        "Jean\x1bDupont",
        "Jean\x7f",
        "Jean\x85",
        "Jean\ud800",
        "Jean\ufffe",
        "   ",
        "",
        "x" * 5000,
    ],
)
def test_values_with_control_characters_are_dropped_whole(bad: str) -> None:
    assert clean_value(bad) is None
    got = ours(("displayName", "mail"), principal={**PRINCIPAL, "displayName": (bad, "Jean")})
    assert got["displayName"] == ("Jean",)
    assert "displayName" not in ours(("displayName",), principal={"displayName": (bad,)})


def test_ordinary_unicode_values_are_kept() -> None:
    for fine in ("Étienne Çelik", "王小明", "Dupont-Durand d'Arc", "ok"):
        assert clean_value(fine) == fine


def test_odd_principal_values_do_not_break_resolution() -> None:
    principal = {"mail": "single@univ-exemple.fr", "sn": (1, None, "Dupont"), "givenName": 5}
    got = ours(("mail", "sn", "givenName"), principal=principal)
    assert got == {"mail": ("single@univ-exemple.fr",), "sn": ("Dupont",)}


def test_single_valued_attributes_release_one_value() -> None:
    got = ours(("displayName",), principal={"displayName": ("A", "B")})
    assert got == {"displayName": ("A",)}


def test_subject_identifiers_come_only_from_identifiers_never_the_principal() -> None:
    principal = {**PRINCIPAL, "pairwise-id": ("forged@evil.example",)}
    got = ours(("pairwise-id", "subject-id"), principal=principal)
    assert got["pairwise-id"] == (ids.pairwise_id(SALT, SP1, UUID, SCOPE),)
    assert got["subject-id"] == (ids.subject_id(SALT, UUID, SCOPE),)
    assert "pairwise-id" not in ours(("pairwise-id",), identifiers={})


# --- identifiers ---------------------------------------------------------------------


def test_pairwise_ids_differ_per_sp_are_stable_and_never_contain_the_login() -> None:
    first = ids.pairwise_id(SALT, SP1, UUID, SCOPE)
    assert ids.pairwise_id(SALT, SP1, UUID, SCOPE) == first  # stable across calls
    assert ids.pairwise_id(SALT, SP2, UUID, SCOPE) != first
    assert ids.pairwise_id(SALT, SP1 + "/", UUID, SCOPE) != first
    assert ids.pairwise_id(b"t" * 32, SP1, UUID, SCOPE) != first
    unique, scope = first.split("@")
    assert scope == SCOPE
    assert re.fullmatch(r"[a-z0-9]{1,127}", unique)
    assert LOGIN not in first and UUID not in first and UUID.replace("-", "") not in first


def test_pairwise_and_persistent_and_subject_ids_are_unrelated() -> None:
    pairwise = ids.pairwise_id(SALT, SP1, UUID, SCOPE).split("@")[0]
    persistent = ids.persistent_id(SALT, SP1, UUID)
    subject = ids.subject_id(SALT, UUID, SCOPE).split("@")[0]
    assert len({pairwise, persistent.lower(), subject}) == 3
    assert ids.subject_id(SALT, UUID, SCOPE) == ids.subject_id(SALT, UUID, SCOPE)


def test_persistent_ids_are_stable_per_sp_opaque_and_short_enough() -> None:
    one = ids.persistent_id(SALT, SP1, UUID)
    assert one == ids.persistent_id(SALT, SP1, UUID)
    assert one != ids.persistent_id(SALT, SP2, UUID)
    assert one != ids.persistent_id(SALT, SP1, "another-uuid")
    assert len(one) <= 256 and LOGIN not in one
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", one)


def test_the_inputs_cannot_be_shifted_between_sp_and_subject() -> None:
    assert ids.persistent_id(SALT, "ab", "c") != ids.persistent_id(SALT, "a", "bc")


def test_transient_ids_are_fresh_and_long() -> None:
    seen = {ids.transient_id() for _ in range(200)}
    assert len(seen) == 200
    assert all(len(t) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in seen)


def test_an_empty_salt_subject_key_or_a_bad_scope_is_refused() -> None:
    with pytest.raises(ValueError):
        ids.pairwise_id(b"", SP1, UUID, SCOPE)
    with pytest.raises(ValueError):
        ids.persistent_id(SALT, SP1, "")
    for scope in ("", "-univ.fr", "univ fr", "univ.fr@x", "é.fr"):
        with pytest.raises(ValueError):
            ids.subject_id(SALT, UUID, scope)


def test_two_people_at_one_sp_get_different_pairwise_ids() -> None:
    other = "0b7f5c1d-2a3e-4f60-8a9b-0c1d2e3f4a5b"
    assert ids.pairwise_id(SALT, SP1, UUID, SCOPE) != ids.pairwise_id(SALT, SP1, other, SCOPE)
    assert ids.persistent_id(SALT, SP1, UUID) != ids.persistent_id(SALT, SP1, other)
