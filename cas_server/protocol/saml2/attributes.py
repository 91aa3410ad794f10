"""The attributes a French university releases, with their SAML names, and their resolution
from the principal's attributes.

Names (``urn:oid:…``, name format ``uri``: SAML2Int, the federation's technical
profile) are those of the published schemas: eduPerson 202208
(1.3.6.1.4.1.5923.1.1.1.x), SupAnn 2021 (1.3.6.1.4.1.7135.1.2.1.x, unchanged
since SupAnn 2009), SCHAC (1.3.6.1.4.1.25178.1.2.x), inetOrgPerson and the
X.500/COSINE attributes (RFC 2798, RFC 4519, RFC 4524), and the SAML V2.0
Subject Identifier Attributes Profile 1.0 (``subject-id``, ``pairwise-id``).
Each has a short English label (a msgid) for the consent page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
MAX_VALUE = 4096  # longer values are dropped, not cut (a cut value would be false)
MAX_VALUES = 200


def N_(message: str) -> str:
    """Mark a label for extraction (scripts/translations.py); translated where shown."""
    return message


@dataclass(frozen=True)
class SamlAttribute:
    friendly_name: str  # "mail", "eduPersonPrincipalName", "pairwise-id" …
    name: str  # "urn:oid:0.9.2342.19200300.100.1.3" or the subject-id URN
    name_format: str = URI
    label: str = ""  # English msgid for people (consent page); "" = the friendly name
    single: bool = False  # single-valued: only the first value is released


def _oid(friendly: str, oid: str, label: str, *, single: bool = False) -> SamlAttribute:
    return SamlAttribute(friendly, f"urn:oid:{oid}", URI, label, single)


_EDU = "1.3.6.1.4.1.5923.1.1.1."
_SUPANN = "1.3.6.1.4.1.7135.1.2.1."
_SCHAC = "1.3.6.1.4.1.25178.1.2."

_ENTRIES = (
    # SAML V2.0 Subject Identifier Attributes Profile 1.0, 3.3 and 3.4 (single-valued).
    SamlAttribute(
        "subject-id",
        "urn:oasis:names:tc:SAML:attribute:subject-id",
        URI,
        N_("Identifier at the institution (subject-id)"),
        True,
    ),
    SamlAttribute(
        "pairwise-id",
        "urn:oasis:names:tc:SAML:attribute:pairwise-id",
        URI,
        N_("Identifier for this service only (pairwise-id)"),
        True,
    ),
    # eduPerson 202208
    _oid("eduPersonPrincipalName", _EDU + "6", N_("Federation identifier (eppn)"), single=True),
    _oid("eduPersonUniqueId", _EDU + "13", N_("Unique identifier"), single=True),
    # inetOrgPerson (RFC 2798), COSINE (RFC 4524), X.520 (RFC 4519)
    _oid("mail", "0.9.2342.19200300.100.1.3", N_("E-mail address")),
    _oid("displayName", "2.16.840.1.113730.3.1.241", N_("Display name"), single=True),
    _oid("givenName", "2.5.4.42", N_("Given name")),
    _oid("sn", "2.5.4.4", N_("Family name")),
    _oid("cn", "2.5.4.3", N_("Full name")),
    _oid("eduPersonAffiliation", _EDU + "1", N_("Affiliations")),
    _oid("eduPersonScopedAffiliation", _EDU + "9", N_("Affiliations with their domain")),
    _oid("eduPersonPrimaryAffiliation", _EDU + "5", N_("Primary affiliation"), single=True),
    _oid("eduPersonEntitlement", _EDU + "7", N_("Entitlements")),
    _oid("eduPersonAssurance", _EDU + "11", N_("Identity assurance")),
    _oid("eduPersonOrcid", _EDU + "16", N_("ORCID identifier")),
    _oid("eduPersonNickname", _EDU + "2", N_("Nickname")),
    _oid("eduPersonOrgDN", _EDU + "3", N_("Organisation"), single=True),
    _oid("eduPersonOrgUnitDN", _EDU + "4", N_("Organisational unit")),
    _oid("eduPersonPrimaryOrgUnitDN", _EDU + "8", N_("Main organisational unit"), single=True),
    _oid("isMemberOf", "1.3.6.1.4.1.5923.1.5.1.1", N_("Groups")),
    # SCHAC
    _oid("schacHomeOrganization", _SCHAC + "9", N_("Home institution (domain)"), single=True),
    _oid("schacHomeOrganizationType", _SCHAC + "10", N_("Type of home institution")),
    _oid("uid", "0.9.2342.19200300.100.1.1", N_("Identifier")),
    _oid("title", "2.5.4.12", N_("Job title")),
    _oid("telephoneNumber", "2.5.4.20", N_("Phone number")),
    _oid("mobile", "0.9.2342.19200300.100.1.41", N_("Mobile")),
    _oid("postalAddress", "2.5.4.16", N_("Postal address")),
    _oid("preferredLanguage", "2.16.840.1.113730.3.1.39", N_("Preferred language"), single=True),
    _oid("employeeNumber", "2.16.840.1.113730.3.1.3", N_("Employee number")),
    _oid("o", "2.5.4.10", N_("Organisation")),
    _oid("ou", "2.5.4.11", N_("Organisational unit")),
    # SupAnn 2021
    _oid("supannEtablissement", _SUPANN + "14", N_("Institution")),
    _oid("supannOrganisme", _SUPANN + "3", N_("Organisation")),
    _oid("supannEntiteAffectation", _SUPANN + "8", N_("Assigned unit")),
    _oid(
        "supannEntiteAffectationPrincipale",
        _SUPANN + "13",
        N_("Main assigned unit"),
        single=True,
    ),
    _oid("supannTypeEntiteAffectation", _SUPANN + "36", N_("Type of the assigned unit")),
    _oid("supannCivilite", _SUPANN + "4", N_("Form of address"), single=True),
    _oid("supannAliasLogin", _SUPANN + "20", N_("Login alias"), single=True),
    _oid("supannListeRouge", _SUPANN + "1", N_("Ex-directory"), single=True),
    _oid("supannMailPerso", _SUPANN + "15", N_("Personal e-mail")),
    _oid("supannAutreMail", _SUPANN + "34", N_("Other e-mail address")),
    _oid("supannAutreTelephone", _SUPANN + "12", N_("Other phone number")),
    _oid("supannRoleGenerique", _SUPANN + "23", N_("Generic role")),
    _oid("supannRoleEntite", _SUPANN + "24", N_("Role in a unit")),
    _oid("supannActivite", _SUPANN + "2", N_("Activity")),
    _oid("supannEmpId", _SUPANN + "11", N_("Personnel number")),
    _oid("supannEmpCorps", _SUPANN + "35", N_("Staff grade")),
    _oid("supannEmpProfil", _SUPANN + "56", N_("Staff profiles")),
    _oid("supannEtuId", _SUPANN + "10", N_("Student number")),
    _oid("supannCodeINE", _SUPANN + "9", N_("INE number")),
    _oid("supannEtuCursusAnnee", _SUPANN + "26", N_("Course and year of study")),
    _oid("supannEtuEtape", _SUPANN + "29", N_("Programme stage")),
    _oid("supannEtuDiplome", _SUPANN + "27", N_("Diploma prepared")),
    _oid("supannEtuTypeDiplome", _SUPANN + "33", N_("Type of diploma")),
    _oid("supannEtuAnneeInscription", _SUPANN + "25", N_("Year of registration")),
    _oid("supannEtuRegimeInscription", _SUPANN + "31", N_("Registration status")),
    _oid("supannEtuSecteurDisciplinaire", _SUPANN + "32", N_("Field of study")),
    _oid("supannEtuElementPedagogique", _SUPANN + "28", N_("Course unit")),
    _oid("supannParrainDN", _SUPANN + "17", N_("Sponsor")),
    _oid("supannRefId", _SUPANN + "37", N_("Reference identifiers")),
)

CATALOG: Mapping[str, SamlAttribute] = {a.friendly_name: a for a in _ENTRIES}
_BY_NAME = {a.name: a for a in _ENTRIES}
_FOLDED = {a.friendly_name.casefold(): a for a in _ENTRIES}
_ORDER = {name: i for i, name in enumerate(CATALOG)}

# eduPerson 202208 affiliation vocabulary, with SupAnn 2021's additions; only these
# values are released (and scoped): a directory's local words would mislead an SP.
AFFILIATIONS = frozenset(
    {
        "faculty",
        "student",
        "staff",
        "alum",
        "member",
        "affiliate",
        "employee",
        "library-walk-in",
        "researcher",
        "retired",
        "emeritus",
        "teacher",
        "registered-reader",
    }
)
COMPUTED = ("subject-id", "pairwise-id")  # from identifiers, never from the principal


def by_name(name_or_friendly: str) -> SamlAttribute | None:
    """The catalog entry with this SAML name (``urn:oid:…``) or friendly name (any case)."""
    return (
        _BY_NAME.get(name_or_friendly)
        or CATALOG.get(name_or_friendly)
        or _FOLDED.get(name_or_friendly.casefold())
    )


def label(friendly_name: str) -> str:
    """The English msgid of an attribute's label (the name itself if unknown)."""
    entry = CATALOG.get(friendly_name)
    return (entry.label or entry.friendly_name) if entry else friendly_name


def clean_value(value: object) -> str | None:
    """A value fit for an assertion, or None: control characters (C0, DEL, C1), lone
    surrogates and non-characters (not XML 1.0 text, or meant to mislead a reader),
    blank and oversized values are dropped whole."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE:
        return None
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Cn") or char in "\ufffe\uffff":
            return None
    return value


def _values(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = (raw,)
    if not isinstance(raw, (tuple, list)):
        return []
    out: list[str] = []
    for value in raw[:MAX_VALUES]:
        cleaned = clean_value(value)
        if cleaned is not None and cleaned not in out:
            out.append(cleaned)
    return out


def _affiliations(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.lower() for v in values if v.lower() in AFFILIATIONS))


def resolve(
    principal_attributes: Mapping[str, tuple[str, ...]],
    mapping: Mapping[str, str],
    released: Iterable[str],
    *,
    login: str,
    scope: str,
    identifiers: Mapping[str, str],
) -> dict[str, tuple[str, ...]]:
    """The released attributes' values by friendly name, only non-empty, in catalog order.

    ``mapping`` (``[saml.attributes]``) names the principal attribute of a SAML one;
    an unmapped one is read under its own name. Computed unless mapped:
    ``eduPersonPrincipalName`` = login@scope, ``eduPersonScopedAffiliation`` = each
    affiliation @scope, ``schacHomeOrganization`` = scope. ``subject-id`` and
    ``pairwise-id`` only ever come from ``identifiers``. Unknown names are ignored.
    """
    wanted = sorted({n for n in released if n in CATALOG}, key=_ORDER.__getitem__)

    def source(name: str) -> list[str]:
        return _values(principal_attributes.get(mapping.get(name, name), ()))

    out: dict[str, tuple[str, ...]] = {}
    for name in wanted:
        if name in COMPUTED:
            values = _values(identifiers.get(name, ()))
        elif name in mapping:
            values = source(name)
            if name in ("eduPersonAffiliation", "eduPersonPrimaryAffiliation"):
                values = _affiliations(values)
        elif name == "eduPersonPrincipalName":
            values = _values(f"{login}@{scope}") if scope and login and "@" not in login else []
        elif name == "eduPersonScopedAffiliation":
            values = [f"{a}@{scope}" for a in _affiliations(source("eduPersonAffiliation"))]
        elif name == "schacHomeOrganization":
            values = _values(scope)
        elif name in ("eduPersonAffiliation", "eduPersonPrimaryAffiliation"):
            values = _affiliations(source(name))
        else:
            values = source(name)
        if scope == "" and name in ("eduPersonScopedAffiliation", "schacHomeOrganization"):
            values = []
        if values and CATALOG[name].single:
            values = values[:1]
        if values:
            out[name] = tuple(values)
    return out
