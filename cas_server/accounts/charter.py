"""Charters (acceptable use policies): versioned, per population (T23).

Accepting a charter records its id and version; a new version asks again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Charter:
    id: str
    version: str
    titles: Mapping[str, str]  # language → title
    texts: Mapping[str, str]  # language → text (paragraphs separated by blank lines)
    profiles: frozenset[str] = field(default_factory=frozenset)  # empty: everyone

    def applies_to(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles

    def title(self, language: str) -> str:
        return self.titles.get(language) or next(iter(self.titles.values()), self.id)

    def paragraphs(self, language: str) -> list[str]:
        text = self.texts.get(language) or next(iter(self.texts.values()), "")
        return [p.strip() for p in text.split("\n\n") if p.strip()]


def charter_for(charters: Sequence[Charter], profile: str) -> Charter | None:
    """The first charter that applies to this population, if any."""
    return next((c for c in charters if c.applies_to(profile)), None)


def needs_acceptance(charter: Charter | None, accepted_version: str | None) -> bool:
    return charter is not None and accepted_version != charter.version
