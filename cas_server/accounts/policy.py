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

from .i18n import N_, NP_


def normalize_password(password: str) -> str:
    """NFC, so "é" typed as one or two code points is the same password (T16)."""
    return unicodedata.normalize("NFC", password)


def char_class(ch: str, specials: str | None = None) -> str:
    """lower, upper, digit or special; accented letters are letters (T16).

    ``specials``: when the policy lists its special characters (UPHF), only those are
    special; any other sign is "other" and counts for no class (it is not refused).
    """
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        if ch.islower():
            return "lower"
        if ch.isupper():
            return "upper"
        return "lower"  # letters without case (e.g. CJK) count as letters
    if specials is not None and ch not in specials:
        return "other"
    return "special"


def shown_characters(chars: str) -> str:
    """A list of characters as a checklist shows it: one by one, with a space between."""
    return " ".join(chars)


CLASSES = ("lower", "upper", "digit", "special")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str  # msgid, with %(name)s placeholders (the singular when ``plural`` is set)
    params: Mapping[str, Any] = field(default_factory=dict)
    # A rule with a count says it through the catalogs' plural forms (ngettext), never
    # "letter(s)": ``plural`` is the plural msgid and ``count`` chooses the form.
    plural: str | None = None
    count: int | None = None

    def english(self) -> str:
        """The text in English, the source language (the command line shows it)."""
        text = self.plural if self.plural is not None and self.count != 1 else self.message
        return text % dict(self.params) if self.params else text


def _counted(
    key: str, messages: tuple[str, str], count: int, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``describe()`` of a rule said with a count (``params`` default to ``{"n": count}``)."""
    return {
        "rule": key,
        "message": messages[0],
        "plural": messages[1],
        "count": count,
        "params": dict(params) if params is not None else {"n": count},
        "client": True,
    }


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
        """The rule as data: ``{"rule": key, "message": msgid, "params": …, "client": bool}``,
        and ``"plural"`` (msgid) and ``"count"`` for a rule said with a count."""
        ...


@dataclass(frozen=True)
class MinLength:
    n: int
    key: str = "min_length"
    messages: tuple[str, str] = NP_("At least %(n)s character", "At least %(n)s characters")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        if len(password) >= self.n:
            return None
        return Violation(self.key, self.messages[0], {"n": self.n}, self.messages[1], self.n)

    def describe(self) -> dict[str, Any]:
        return _counted(self.key, self.messages, self.n)


@dataclass(frozen=True)
class MaxLength:
    n: int
    key: str = "max_length"
    messages: tuple[str, str] = NP_("At most %(n)s character", "At most %(n)s characters")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        if len(password) <= self.n:
            return None
        return Violation(self.key, self.messages[0], {"n": self.n}, self.messages[1], self.n)

    def describe(self) -> dict[str, Any]:
        return _counted(self.key, self.messages, self.n)


CLASS_MESSAGES = {
    "lower": NP_("At least %(n)s lowercase letter", "At least %(n)s lowercase letters"),
    "upper": NP_("At least %(n)s uppercase letter", "At least %(n)s uppercase letters"),
    "digit": NP_("At least %(n)s digit", "At least %(n)s digits"),
    "special": NP_("At least %(n)s special character", "At least %(n)s special characters"),
}
# When the policy lists its special characters, the checklist shows them (UPHF's page).
LISTED_SPECIAL_MESSAGES = NP_(
    "At least %(n)s special character among %(list)s",
    "At least %(n)s special characters among %(list)s",
)


@dataclass(frozen=True)
class ClassMinimum:
    """At least ``n`` characters of one class; ``specials`` lists the special ones."""

    cls: str
    n: int = 1
    specials: str | None = None

    @property
    def key(self) -> str:
        return f"class_{self.cls}"

    @property
    def _messages(self) -> tuple[str, str]:
        if self.cls == "special" and self.specials is not None:
            return LISTED_SPECIAL_MESSAGES
        return CLASS_MESSAGES[self.cls]

    @property
    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"n": self.n, "cls": self.cls}
        if self.cls == "special" and self.specials is not None:
            # "chars" for the live checklist's count, "list" for the text.
            params.update(chars=self.specials, list=shown_characters(self.specials))
        return params

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        count = sum(1 for ch in password if char_class(ch, self.specials) == self.cls)
        if count >= self.n:
            return None
        singular, plural = self._messages
        return Violation(self.key, singular, self._params, plural, self.n)

    def describe(self) -> dict[str, Any]:
        return _counted(self.key, self._messages, self.n, self._params)


@dataclass(frozen=True)
class ClassesKOfN:
    """At least ``k`` of the four classes (oZe: 3 of 4); ``specials`` lists the special ones."""

    k: int
    specials: str | None = None
    key: str = "classes_k_of_n"

    @property
    def _messages(self) -> tuple[str, str]:
        if self.specials is not None:
            return NP_(
                "At least %(k)s kind of characters among lowercase, uppercase, digits and "
                "special characters (%(list)s)",
                "At least %(k)s kinds of characters among lowercase, uppercase, digits and "
                "special characters (%(list)s)",
            )
        return NP_(
            "At least %(k)s kind of characters among lowercase, uppercase, digits and special",
            "At least %(k)s kinds of characters among lowercase, uppercase, digits and special",
        )

    @property
    def _params(self) -> dict[str, Any]:
        if self.specials is None:
            return {"k": self.k}
        return {"k": self.k, "specials": self.specials, "list": shown_characters(self.specials)}

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        present = {char_class(ch, self.specials) for ch in password} - {"other"}
        if len(present) >= self.k:
            return None
        singular, plural = self._messages
        return Violation(self.key, singular, self._params, plural, self.k)

    def describe(self) -> dict[str, Any]:
        return _counted(self.key, self._messages, self.k, self._params)


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
    messages: tuple[str, str] = NP_(
        "No more than %(n)s consecutive character of your name",
        "No more than %(n)s consecutive characters of your name",
    )

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        text = _strip_accents(password)
        for part in _strip_accents(context.full_name).replace("-", " ").split():
            for start in range(len(part) - self.n):
                if part[start : start + self.n + 1] in text:
                    return Violation(
                        self.key, self.messages[0], {"n": self.n}, self.messages[1], self.n
                    )
        return None

    def describe(self) -> dict[str, Any]:
        return _counted(self.key, self.messages, self.n)


@dataclass(frozen=True)
class NotInHistory:
    """Different from the last ``n`` passwords (T18). Server only: hashes never leave it."""

    n: int
    key: str = "history"
    messages: tuple[str, str] = NP_(
        "Must differ from your last password", "Must differ from your last %(n)s passwords"
    )

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        if context.verify is None:
            return None
        for stored in list(context.history)[: self.n]:
            if context.verify(password, stored):
                return Violation(
                    self.key, self.messages[0], {"n": self.n}, self.messages[1], self.n
                )
        return None

    def describe(self) -> dict[str, Any]:
        return {**_counted(self.key, self.messages, self.n), "client": False}


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
