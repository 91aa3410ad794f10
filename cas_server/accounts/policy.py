"""The password policy engine: one declarative policy, checked on the server and
shown live on the form from the same definition (SELF-SERVICE-RULES T15–T21).

A policy is a list of rule objects. Each rule checks a password and returns
a :class:`Violation` carrying a message id (English source text, translated
where it is shown) and its parameters. ``describe()`` gives the same rules as
data for the browser's live checklist; the server stays authoritative.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..i18n import N_


def normalize_password(password: str) -> str:
    """NFC, so "é" typed as one or two code points is the same password (T16)."""
    return unicodedata.normalize("NFC", password)


def char_class(ch: str) -> str:
    """lower, upper, digit or special; accented letters are letters (T16)."""
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        if ch.islower():
            return "lower"
        if ch.isupper():
            return "upper"
        return "lower"  # letters without case (e.g. CJK) count as letters
    return "special"


CLASSES = ("lower", "upper", "digit", "special")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str  # msgid, with %(name)s placeholders
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PasswordContext:
    """What the rules may compare the password with."""

    login: str = ""
    full_name: str = ""
    # Former password hashes, newest first, and how to check one (T18).
    history: Sequence[str] = ()
    verify: Callable[[str, str], bool] | None = None


class Rule(Protocol):
    @property
    def key(self) -> str: ...

    def check(self, password: str, context: PasswordContext) -> Violation | None: ...

    def describe(self) -> dict[str, Any]:
        """The rule as data: ``{"rule": key, "message": msgid, "params": …, "client": bool}``."""
        ...


@dataclass(frozen=True)
class MinLength:
    n: int
    key: str = "min_length"
    message: str = N_("At least %(n)s characters")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        return None if len(password) >= self.n else Violation(self.key, self.message, {"n": self.n})

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {"n": self.n}, "client": True}


@dataclass(frozen=True)
class MaxLength:
    n: int
    key: str = "max_length"
    message: str = N_("At most %(n)s characters")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        return None if len(password) <= self.n else Violation(self.key, self.message, {"n": self.n})

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {"n": self.n}, "client": True}


CLASS_MESSAGES = {
    "lower": N_("At least %(n)s lowercase letter(s)"),
    "upper": N_("At least %(n)s uppercase letter(s)"),
    "digit": N_("At least %(n)s digit(s)"),
    "special": N_("At least %(n)s special character(s)"),
}


@dataclass(frozen=True)
class ClassMinimum:
    """At least ``n`` characters of one class."""

    cls: str
    n: int = 1

    @property
    def key(self) -> str:
        return f"class_{self.cls}"

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        count = sum(1 for ch in password if char_class(ch) == self.cls)
        if count >= self.n:
            return None
        return Violation(self.key, CLASS_MESSAGES[self.cls], {"n": self.n})

    def describe(self) -> dict[str, Any]:
        return {
            "rule": self.key,
            "message": CLASS_MESSAGES[self.cls],
            "params": {"n": self.n, "cls": self.cls},
            "client": True,
        }


@dataclass(frozen=True)
class ClassesKOfN:
    """At least ``k`` of the four classes (oZe: 3 of 4)."""

    k: int
    key: str = "classes_k_of_n"
    message: str = N_(
        "At least %(k)s kinds of characters among lowercase, uppercase, digits and special"
    )

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        present = {char_class(ch) for ch in password}
        if len(present) >= self.k:
            return None
        return Violation(self.key, self.message, {"k": self.k})

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {"k": self.k}, "client": True}


@dataclass(frozen=True)
class ForbiddenCharacters:
    """No character from ``chars``; ``whitespace`` forbids every kind of space."""

    chars: str = ""
    whitespace: bool = True
    key: str = "forbidden_characters"

    @property
    def message(self) -> str:
        if self.whitespace and not self.chars:
            return N_("No spaces")
        return N_("None of these characters: %(chars)s")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        for ch in password:
            if (self.whitespace and ch.isspace()) or ch in self.chars:
                return Violation(self.key, self.message, {"chars": self.chars})
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "rule": self.key,
            "message": self.message,
            "params": {"chars": self.chars, "whitespace": self.whitespace},
            "client": True,
        }


@dataclass(frozen=True)
class NotContainsLogin:
    """The login must not appear in the password, whatever the case (T17)."""

    key: str = "not_login"
    message: str = N_("Must not contain your login")
    min_login_length: int = 3

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        login = context.login.casefold()
        if len(login) >= self.min_login_length and login in password.casefold():
            return Violation(self.key, self.message)
        return None

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {}, "client": True}


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True)
class NameRun:
    """No more than ``n`` consecutive characters of the user's full name (oZe: 2; T17).

    Compared case- and accent-insensitively, part by part of the name.
    """

    n: int = 2
    key: str = "name_run"
    message: str = N_("No more than %(n)s consecutive characters of your name")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        text = _strip_accents(password)
        for part in _strip_accents(context.full_name).replace("-", " ").split():
            for start in range(len(part) - self.n):
                if part[start : start + self.n + 1] in text:
                    return Violation(self.key, self.message, {"n": self.n})
        return None

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {"n": self.n}, "client": True}


@dataclass(frozen=True)
class NotInHistory:
    """Different from the last ``n`` passwords (T18). Server only: hashes never leave it."""

    n: int
    key: str = "history"
    message: str = N_("Must differ from your last %(n)s passwords")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        if context.verify is None:
            return None
        for stored in list(context.history)[: self.n]:
            if context.verify(password, stored):
                return Violation(self.key, self.message, {"n": self.n})
        return None

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {"n": self.n}, "client": False}


@dataclass(frozen=True)
class Blocklist:
    """Not a common password nor an institution word (T19); compared case-insensitively."""

    words: frozenset[str]
    key: str = "blocklist"
    message: str = N_("Must not be a common or easily guessed password")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        folded = password.casefold()
        if folded in self.words or _strip_accents(password) in self.words:
            return Violation(self.key, self.message)
        return None

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": {}, "client": False}


@dataclass(frozen=True)
class PasswordPolicy:
    name: str
    rules: tuple[Rule, ...]

    def check(self, password: str, context: PasswordContext | None = None) -> list[Violation]:
        """Every rule the password breaks, in the policy's order (empty: accepted)."""
        context = context or PasswordContext()
        password = normalize_password(password)
        violations = []
        for rule in self.rules:
            violation = rule.check(password, context)
            if violation is not None:
                violations.append(violation)
        return violations

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]


def load_words(lines: Iterable[str]) -> frozenset[str]:
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )
