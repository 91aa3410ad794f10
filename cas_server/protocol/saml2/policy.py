"""Which release policy a service provider gets, and what it releases.

A policy is chosen (:meth:`ReleaseRules.policy_for`) by the SP's entity id
exactly as written (SAML core 8.3.6: entity ids are compared as strings, so a
look-alike with another case or a trailing slash is another SP), then by the
first of its metadata's entity categories (REFEDS R&S, GÉANT/REFEDS Code of
Conduct) that a rule names, then the default; no default refuses the SP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import RequestDenied
from .name_id import PERSISTENT, TRANSIENT

ENCRYPT_MODES = ("metadata", "always", "never")  # metadata: when the SP publishes a key
REFUSED = "refused"  # the policy name that refuses an SP (``[saml.release]`` or the console)

# Entity categories (metadata EntityAttributes http://macedir.org/entity-category).
RESEARCH_AND_SCHOLARSHIP = "http://refeds.org/category/research-and-scholarship"
CODE_OF_CONDUCT_V1 = "http://www.geant.net/uri/dataprotection-code-of-conduct/v1"
CODE_OF_CONDUCT_V2 = "https://refeds.org/category/code-of-conduct/v2"
# SAML V2.0 Subject Identifier Attributes Profile 1.0, 3.4: what the SP needs.
SUBJECT_ID_REQ = "urn:oasis:names:tc:SAML:profiles:subject-id:req"
SUBJECT_ID_REQ_VALUES = ("subject", "pairwise", "none", "any")
IDENTIFIERS = ("pairwise-id", "subject-id")


@dataclass(frozen=True)
class ReleasePolicy:
    name: str
    attributes: tuple[str, ...] = ()  # friendly names (attributes.CATALOG)
    name_id_formats: tuple[str, ...] = (TRANSIENT, PERSISTENT)  # first: the default
    consent: bool = False  # ask the person (when [saml] consent is on)
    encrypt: str = "metadata"
    mfa_required: bool = False  # this SP always needs a second factor
    requested_only: bool = False  # release ∩ the SP's RequestedAttributes (Code of Conduct)

    def __post_init__(self) -> None:
        if self.encrypt not in ENCRYPT_MODES:
            raise ValueError(f"encrypt must be one of {', '.join(ENCRYPT_MODES)}")

    def encrypts(self, sp: ServiceProvider) -> bool:
        """Whether the assertion is encrypted for ``sp``.

        "always" with an SP whose metadata has no encryption key is RequestDenied:
        never fall back to a clear assertion the rules said must be encrypted.
        """
        if self.encrypt == "never":
            return False
        if self.encrypt == "always" and not sp.encryption_key:
            raise RequestDenied(f"{sp.entity_id[:200]} publishes no encryption key")
        return sp.encryption_key


@dataclass(frozen=True)
class ServiceProvider:
    """An SP as the binding read it from trusted metadata."""

    entity_id: str
    name: str  # mdui:DisplayName (fr, then en) or the entity id
    source: str  # "file:<path>" or "federation:<name>"
    categories: tuple[str, ...] = ()  # entity categories, in metadata order
    requested_attributes: tuple[str, ...] = ()  # friendly names, required and optional
    encryption_key: bool = False  # the metadata has a usable encryption key
    slo: bool = False  # the metadata has a SingleLogoutService
    subject_id_req: str | None = None  # subject-id:req entity attribute, when published


@dataclass(frozen=True)
class ReleaseRules:
    policies: Mapping[str, ReleasePolicy]
    by_entity: Mapping[str, str] = field(default_factory=dict)  # entity id -> policy name
    by_category: Mapping[str, str] = field(default_factory=dict)  # category -> policy name
    default: str | None = None  # policy of other known SPs (None: RequestDenied)

    def __post_init__(self) -> None:
        names = [*self.by_entity.values(), *self.by_category.values()]
        if self.default is not None:
            names.append(self.default)
        for name in names:
            if name != REFUSED and name not in self.policies:
                raise ValueError(f"no release policy named {name!r}")

    def _name_for(self, sp: ServiceProvider) -> str | None:
        if sp.entity_id in self.by_entity:  # exact: no case folding, no slash trimming
            return self.by_entity[sp.entity_id]
        for category in sp.categories:
            if category in self.by_category:
                return self.by_category[category]
        return self.default

    def policy_for(self, sp: ServiceProvider) -> ReleasePolicy:
        """The SP's policy; RequestDenied when the rules refuse it."""
        name = self._name_for(sp)
        if name is None or name == REFUSED:
            raise RequestDenied(f"no release policy for {sp.entity_id[:200]}")
        return self.policies[name]

    def released(self, sp: ServiceProvider, policy: ReleasePolicy) -> tuple[str, ...]:
        """The friendly names ``policy`` releases to ``sp``, in the policy's order.

        ``requested_only`` (Code of Conduct: data minimisation) keeps those the SP's
        metadata requests; the subject identifiers also when its ``subject-id:req``
        asks for them. ``subject-id:req`` narrows the identifiers to the one asked.
        """
        wanted = set(sp.requested_attributes)
        req = sp.subject_id_req
        if req in ("pairwise", "any"):
            wanted.add("pairwise-id")
        elif req == "subject":
            wanted.add("subject-id")
        out: list[str] = []
        for name in policy.attributes:
            if name in out:
                continue
            if policy.requested_only and name not in wanted:
                continue
            if name in IDENTIFIERS and req in SUBJECT_ID_REQ_VALUES and name not in wanted:
                continue  # "none", or the other identifier than the one asked
            out.append(name)
        return tuple(out)

    def describe(self, sp: ServiceProvider) -> str:
        """The policy name, or "refused" (console, ``cas-server saml sps``)."""
        name = self._name_for(sp)
        return REFUSED if name is None else name
