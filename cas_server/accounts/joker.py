"""The joker (secret) question: a knowledge-based recovery factor, so treated warily.

Answers are normalised (case, accents, spaces), stored only as a slow hash
(the password hasher), never shown, and may not be the login or the password
(T13). Questions come from a fixed list, stored by key, so a page can show
a *decoy* question for an unknown person that looks like any real one
(T1): which question an account has tells nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from .i18n import N_
from .identity import InputError, clean_text, fold

MIN_ANSWER_LENGTH = 3
MAX_ANSWER_LENGTH = 128

QUESTIONS: dict[str, str] = {
    "first_school": N_("What was the name of your first school?"),
    "childhood_friend": N_("What is the first name of your childhood best friend?"),
    "first_pet": N_("What was the name of your first pet?"),
    "birth_city_mother": N_("In which town was your mother born?"),
    "favourite_book": N_("What is the title of your favourite childhood book?"),
    "first_concert": N_("Which artist did you see at your first concert?"),
    "grandparent_street": N_("In which street did your grandparents live?"),
    "dream_job": N_("What job did you dream of as a child?"),
}


def normalize_answer(answer: str) -> str:
    """Case, accents and spaces do not matter: "  Élodie " is "elodie"."""
    return fold(answer)


def parse_question(value: str, allowed: Sequence[str]) -> str:
    if value not in allowed or value not in QUESTIONS:
        raise InputError("joker_question", N_("Choose a question from the list."))
    return value


def parse_answer(value: str, *, login: str, password: str) -> str:
    """The normalised answer to store (hashed); refuses the login and the password (T13)."""
    text = clean_text("joker_answer", value, MAX_ANSWER_LENGTH)
    normalized = normalize_answer(text)
    if len(normalized) < MIN_ANSWER_LENGTH:
        raise InputError("joker_answer", N_("Your answer must have at least 3 characters."))
    if normalized == normalize_answer(login) or (password and normalized == fold(password)):
        raise InputError(
            "joker_answer", N_("Your answer must not be your identifier or your password.")
        )
    return normalized


def decoy_question(key: bytes, seed: str, allowed: Sequence[str]) -> str:
    """The question shown when nobody matches: fixed for a given seed, drawn like a real one."""
    choices = [q for q in allowed if q in QUESTIONS] or list(QUESTIONS)
    index = int.from_bytes(hmac.new(key, seed.encode("utf-8"), hashlib.sha256).digest()[:4])
    return choices[index % len(choices)]
