"""Release policies and the attribute map of ``[saml]`` (#18): ``[saml.policies.<name>]``,
``[saml.release]``, ``[saml.categories]``, ``default_policy`` and ``[saml.attributes]``.

Built in, when not configured: ``minimal`` (eduPersonScopedAffiliation,
pairwise-id) for every SP; ``research-and-scholarship`` (the REFEDS R&S bundle)
for SPs of that category; ``code-of-conduct`` (what the SP requests out of a broad
list) for the GÉANT Data Protection Code of Conduct v1 and REFEDS CoCo v2 ones.
A wrong value stops the start with the key at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..protocol.saml2.attributes import CATALOG, COMPUTED
from ..protocol.saml2.name_id import format_from_name
from ..protocol.saml2.policy import (
    CODE_OF_CONDUCT_V1,
    CODE_OF_CONDUCT_V2,
    ENCRYPT_MODES,
    REFUSED,
    RESEARCH_AND_SCHOLARSHIP,
    ReleasePolicy,
    ReleaseRules,
)
from ..protocol.saml2.requests import MAX_ENTITY_ID
from .server import ConfigError

POLICY_KEYS = {
    "attributes",
    "name_id_formats",
    "consent",
    "encrypt",
    "mfa_required",
    "requested_only",
}
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

# The principal's attribute of each SAML one (the account and directory use the same
# names); anything unmapped is read under its own name.
DEFAULT_ATTRIBUTE_MAP: Mapping[str, str] = {
    "mail": "mail",
    "displayName": "displayName",
    "givenName": "givenName",
    "sn": "sn",
    "eduPersonAffiliation": "eduPersonAffiliation",
    "supannAliasLogin": "supannAliasLogin",
    "supannEtuId": "supannEtuId",
    "supannEmpId": "supannEmpId",
    "supannCodeINE": "supannCodeINE",
}

MINIMAL = "minimal"
RESEARCH = "research-and-scholarship"
CODE_OF_CONDUCT = "code-of-conduct"
BUILT_IN_POLICIES: Mapping[str, ReleasePolicy] = {
    MINIMAL: ReleasePolicy(MINIMAL, ("eduPersonScopedAffiliation", "pairwise-id")),
    # REFEDS Research and Scholarship 1.3: the bundle (shared user identifier, person
    # name, e-mail, affiliation).
    RESEARCH: ReleasePolicy(
        RESEARCH,
        (
            "eduPersonPrincipalName",
            "mail",
            "displayName",
            "givenName",
            "sn",
            "eduPersonScopedAffiliation",
            "pairwise-id",
            "subject-id",
        ),
    ),
    # GÉANT Data Protection Code of Conduct v1, REFEDS CoCo v2: only what the SP
    # requests in its metadata, out of this list (data minimisation).
    CODE_OF_CONDUCT: ReleasePolicy(
        CODE_OF_CONDUCT,
        (
            "pairwise-id",
            "subject-id",
            "eduPersonPrincipalName",
            "eduPersonUniqueId",
            "mail",
            "displayName",
            "givenName",
            "sn",
            "cn",
            "eduPersonAffiliation",
            "eduPersonScopedAffiliation",
            "eduPersonPrimaryAffiliation",
            "eduPersonEntitlement",
            "eduPersonAssurance",
            "eduPersonOrcid",
            "schacHomeOrganization",
            "schacHomeOrganizationType",
            "preferredLanguage",
            "supannEtablissement",
        ),
        requested_only=True,
    ),
}
BUILT_IN_CATEGORIES: Mapping[str, str] = {
    RESEARCH_AND_SCHOLARSHIP: RESEARCH,
    CODE_OF_CONDUCT_V1: CODE_OF_CONDUCT,
    CODE_OF_CONDUCT_V2: CODE_OF_CONDUCT,
}


def built_in_rules() -> ReleaseRules:
    return ReleaseRules(BUILT_IN_POLICIES, {}, BUILT_IN_CATEGORIES, MINIMAL)


def key_of(key: str) -> str:
    return f"saml.{key}"


def checked_text(value: Any, where: str, *, limit: int = 4096) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, f"must be a text, not {value!r}")
    if len(value) > limit:
        raise ConfigError(where, f"at most {limit} characters")
    return value.strip()


def attribute_map(section: Mapping[str, Any]) -> dict[str, str]:
    given = section["attributes"]
    if not isinstance(given, Mapping):
        raise ConfigError(key_of("attributes"), 'must be a table such as { mail = "mail" }')
    mapping = dict(DEFAULT_ATTRIBUTE_MAP)
    for name, source in given.items():
        where = key_of(f"attributes.{name}")
        if name not in CATALOG:
            raise ConfigError(where, "not a SAML attribute this server knows (friendly name)")
        if name in COMPUTED:
            raise ConfigError(where, "computed from the salt and the account: cannot be mapped")
        value = checked_text(source, where, limit=128)
        if not value:
            raise ConfigError(where, "empty")
        mapping[str(name)] = value
    return mapping


def _policy(name: str, entry: Any) -> ReleasePolicy:
    where = key_of(f"policies.{name}")
    if not NAME_RE.fullmatch(name) or name == REFUSED:
        raise ConfigError(where, "a policy name is lower-case letters, digits, - and _")
    if not isinstance(entry, Mapping):
        raise ConfigError(where, "must be a table")
    unknown = sorted(set(entry) - POLICY_KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
    attributes = entry.get("attributes", [])
    if not isinstance(attributes, list):
        raise ConfigError(f"{where}.attributes", "must be a list of attribute friendly names")
    for i, attribute in enumerate(attributes):
        if not isinstance(attribute, str) or attribute not in CATALOG:
            raise ConfigError(
                f"{where}.attributes[{i}]", f"not a SAML attribute this server knows: {attribute!r}"
            )
    formats_given = entry.get("name_id_formats", ["transient", "persistent"])
    if not isinstance(formats_given, list) or not formats_given:
        raise ConfigError(f"{where}.name_id_formats", "must be a non-empty list")
    formats: list[str] = []
    for i, given in enumerate(formats_given):
        chosen = format_from_name(given) if isinstance(given, str) else None
        if chosen is None:
            raise ConfigError(
                f"{where}.name_id_formats[{i}]",
                f"transient, persistent, email or unspecified, not {given!r}",
            )
        formats.append(chosen)
    flags: dict[str, bool] = {}
    for key in ("consent", "mfa_required", "requested_only"):
        value = entry.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}", "must be true or false")
        flags[key] = value
    encrypt = entry.get("encrypt", "metadata")
    if encrypt not in ENCRYPT_MODES:
        raise ConfigError(f"{where}.encrypt", f"one of {', '.join(ENCRYPT_MODES)}")
    return ReleasePolicy(
        name=name,
        attributes=tuple(dict.fromkeys(attributes)),
        name_id_formats=tuple(dict.fromkeys(formats)),
        consent=flags["consent"],
        encrypt=encrypt,
        mfa_required=flags["mfa_required"],
        requested_only=flags["requested_only"],
    )


def _choice(policies: Mapping[str, ReleasePolicy], name: Any, where: str) -> str:
    if not isinstance(name, str) or (name not in policies and name != REFUSED):
        known = ", ".join([*sorted(policies), REFUSED])
        raise ConfigError(where, f"no release policy {name!r} (known: {known})")
    return name


def release_rules(section: Mapping[str, Any]) -> ReleaseRules:
    given = section["policies"]
    if not isinstance(given, Mapping):
        raise ConfigError(key_of("policies"), "must be a table of [saml.policies.<name>] tables")
    policies: dict[str, ReleasePolicy] = dict(BUILT_IN_POLICIES)
    for name, entry in given.items():
        policies[str(name)] = _policy(str(name), entry)
    tables: dict[str, dict[str, str]] = {}
    for key in ("release", "categories"):
        table = section[key]
        if not isinstance(table, Mapping):
            raise ConfigError(key_of(key), 'must be a table of "entity id or category" = "policy"')
        tables[key] = {}
        for uri, name in table.items():
            where = key_of(f'{key}."{uri}"')
            if not isinstance(uri, str) or not uri.strip() or len(uri) > MAX_ENTITY_ID:
                raise ConfigError(where, "an entity id or category URI of 1 to 1024 characters")
            if uri != uri.strip():
                raise ConfigError(where, "spaces around the URI: it would never match")
            tables[key][uri] = _choice(policies, name, where)
    default = section["default_policy"]
    if default in ("", REFUSED):
        default_name: str | None = None
    else:
        default_name = _choice(policies, default, key_of("default_policy"))
    return ReleaseRules(
        policies=policies,
        by_entity=tables["release"],
        by_category={**BUILT_IN_CATEGORIES, **tables["categories"]},
        default=default_name,
    )
