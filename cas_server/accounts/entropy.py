"""Password strength rules: the CNIL's entropy and zxcvbn's estimate (issue #16, part 4).

CNIL deliberation 2022-100 sets the bar in bits of entropy: 80 for a
password alone, 50 when access to the account is restricted after failures
(the lockout of ``[login]``). It computes a password's entropy from its
length and the alphabet its characters are drawn from, ``length ×
log2(alphabet)``, the alphabet being the union of the kinds of characters
used: 26 lowercase letters, 26 uppercase, 10 digits and the deliberation's
37 special characters (or the policy's own list of them). Its examples, for
80 bits: 12 characters of the four kinds (12 × log2(99) ≈ 79.6), 14 of
uppercase, lowercase and digits (14 × log2(62) ≈ 83.4), or a passphrase.
The deliberation's figures are whole bits ("80 bits" for 79.6), so the
rule compares the entropy rounded to the nearest bit, as the live checklist
does (``password-policy.js``).

zxcvbn estimates how guessable a password is (dictionaries, keyboard
patterns, dates, l33t…) and scores it 0–4; its English feedback is mapped
to message ids here so that it is said in the reader's language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .i18n import N_
from .policy import PasswordContext, Violation, char_class

# The sizes of the kinds of characters, as the deliberation counts them.
ALPHABETS = {"lower": 26, "upper": 26, "digit": 10, "special": 37}
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input: the first 72 characters are judged


def alphabet_size(password: str, specials: str | None = None) -> int:
    """The size of the union of the kinds of characters ``password`` uses."""
    used = {char_class(ch, specials) for ch in password} - {"other"}
    sizes = dict(ALPHABETS, special=len(specials) if specials else ALPHABETS["special"])
    return sum(sizes[kind] for kind in used)


def entropy_bits(password: str, specials: str | None = None) -> float:
    """``length × log2(alphabet)``, the deliberation's entropy of ``password``."""
    alphabet = alphabet_size(password, specials)
    return len(password) * math.log2(alphabet) if alphabet > 1 else 0.0


def whole_bits(bits: float) -> int:
    """Bits as the deliberation states them: to the nearest whole bit."""
    return math.floor(bits + 0.5)


@dataclass(frozen=True)
class MinEntropy:
    """At least ``bits`` of entropy, CNIL style (``min_entropy_bits``)."""

    bits: int
    specials: str | None = None
    key: str = "entropy"
    message: str = N_(
        "At least %(bits)s bits of entropy: the longer the password and the more kinds of "
        "characters it mixes, the more bits"
    )

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        if whole_bits(entropy_bits(password, self.specials)) >= self.bits:
            return None
        return Violation(self.key, self.message, self._params)

    @property
    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"bits": self.bits, "sizes": dict(ALPHABETS)}
        if self.specials:
            params.update(chars=self.specials, sizes=dict(ALPHABETS, special=len(self.specials)))
        return params

    def describe(self) -> dict[str, Any]:
        return {"rule": self.key, "message": self.message, "params": self._params, "client": True}


# zxcvbn 4.5.0's feedback (zxcvbn/feedback.py), English source text → msgid.
# Anything else it might say (another version) is left out rather than shown
# untranslated.
ZXCVBN_FEEDBACK = frozenset(
    {
        N_("Use a few words, avoid common phrases."),
        N_("No need for symbols, digits, or uppercase letters."),
        N_("Add another word or two. Uncommon words are better."),
        N_("Straight rows of keys are easy to guess."),
        N_("Short keyboard patterns are easy to guess."),
        N_("Use a longer keyboard pattern with more turns."),
        N_('Repeats like "aaa" are easy to guess.'),
        N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
        N_("Avoid repeated words and characters."),
        N_('Sequences like "abc" or "6543" are easy to guess.'),
        N_("Avoid sequences."),
        N_("Recent years are easy to guess."),
        N_("Avoid recent years."),
        N_("Avoid years that are associated with you."),
        N_("Dates are often easy to guess."),
        N_("Avoid dates and years that are associated with you."),
        N_("This is a top-10 common password."),
        N_("This is a top-100 common password."),
        N_("This is a very common password."),
        N_("This is similar to a commonly used password."),
        N_("A word by itself is easy to guess."),
        N_("Names and surnames by themselves are easy to guess."),
        N_("Common names and surnames are easy to guess."),
        N_("Capitalization doesn't help very much."),
        N_("All-uppercase is almost as easy to guess as all-lowercase."),
        N_("Reversed words aren't much harder to guess."),
        N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
    }
)


def zxcvbn_estimate(password: str, user_inputs: list[str]) -> tuple[int, list[str]]:
    """zxcvbn's score (0–4) and its feedback as message ids (warning first)."""
    from zxcvbn import zxcvbn  # imported on first use: it loads its dictionaries

    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=user_inputs)
    feedback = result.get("feedback") or {}
    said = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    return int(result["score"]), [s for s in said if s in ZXCVBN_FEEDBACK]


@dataclass(frozen=True)
class MinZxcvbnScore:
    """zxcvbn scores the password at least ``score`` (0–4); checked on the server only."""

    score: int
    key: str = "zxcvbn"
    message: str = N_("Not easy to guess (a strength estimate of at least %(score)s out of 4)")

    def check(self, password: str, context: PasswordContext) -> Violation | None:
        inputs = [context.login, *context.full_name.replace("-", " ").split()]
        score, feedback = zxcvbn_estimate(password, [i for i in inputs if i])
        if score >= self.score:
            return None
        return Violation(self.key, self.message, {"score": self.score, "feedback": feedback})

    def describe(self) -> dict[str, Any]:
        return {
            "rule": self.key,
            "message": self.message,
            "params": {"score": self.score},
            "client": False,
        }
