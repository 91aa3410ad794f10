"""How people identify themselves on the self-service pages, checked before any lookup.

Numbers from the institution's information system (student number, INE,
personnel number) or the login, a birth date typed the French way
(``14/03/2005``) or the ISO way (``2005-03-14``), e-mail addresses and
mobile numbers. Every parser refuses control characters and oversized
input with a message id that the page translates (never a 500).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from .i18n import N_
from .model import MAX_LOGIN_LENGTH, normalize_login

MAX_NUMBER_LENGTH = 64
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 128
MAX_TEXT_LENGTH = 256
EARLIEST_BIRTH_YEAR = 1900


class InputError(ValueError):
    """A field the user must correct; ``message`` is a msgid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IdentifierKind(StrEnum):
    STUDENT_NUMBER = "student_number"
    INE = "ine"
    PERSONNEL_NUMBER = "personnel_number"
    LOGIN = "login"


IDENTIFIER_LABELS = {
    IdentifierKind.STUDENT_NUMBER: N_("Student number"),
    IdentifierKind.INE: N_("INE number"),
    IdentifierKind.PERSONNEL_NUMBER: N_("Personnel number"),
    IdentifierKind.LOGIN: N_("Identifier (UID)"),
}

IDENTIFIER_HINTS = {
    IdentifierKind.STUDENT_NUMBER: N_(
        "Given at the end of your enrolment; it is printed on your student card."
    ),
    IdentifierKind.INE: N_(
        "Your national student identifier (11 characters), printed on your baccalauréat "
        "transcript and on your student card."
    ),
    IdentifierKind.PERSONNEL_NUMBER: N_(
        "Your number in the staff database; it is printed on your card."
    ),
    IdentifierKind.LOGIN: N_("The unique identifier you were given (externals)."),
}

_NUMBER_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]*")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
_DATE_FR_RE = re.compile(r"(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})")
_DATE_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def has_control_characters(value: str) -> bool:
    """Control and format characters (NUL, escapes, bidi overrides…) have no place in a form."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value)


def clean_text(field: str, value: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """NFC, trimmed, spaces collapsed; refuses control characters and oversized input."""
    if len(value) > max_length * 4:
        raise InputError(field, N_("This field is too long."))
    if has_control_characters(value.replace("\t", " ")):
        raise InputError(field, N_("This field contains characters that are not allowed."))
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if len(text) > max_length:
        raise InputError(field, N_("This field is too long."))
    return text


def required(field: str, value: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    text = clean_text(field, value, max_length)
    if not text:
        raise InputError(field, N_("This field is required."))
    return text


def parse_kind(value: str, allowed: tuple[IdentifierKind, ...]) -> IdentifierKind:
    try:
        kind = IdentifierKind(value)
    except ValueError:
        kind = None
    if kind is None or kind not in allowed:
        raise InputError("kind", N_("Choose the kind of number you have."))
    return kind


def parse_identifier(kind: IdentifierKind, value: str) -> str:
    """The number as the information system stores it (upper case, no spaces)."""
    if kind is IdentifierKind.LOGIN:
        text = required("identifier", value, MAX_LOGIN_LENGTH)
        return normalize_login(text)
    text = required("identifier", value, MAX_NUMBER_LENGTH).replace(" ", "").upper()
    if not _NUMBER_RE.fullmatch(text):
        raise InputError("identifier", N_("This number contains characters that are not allowed."))
    return text


def parse_birth_date(value: str, today: date) -> date:
    """``dd/mm/yyyy`` (also with ``-``, ``.`` or spaces) or ``yyyy-mm-dd``."""
    text = required("birth_date", value, 32)
    if match := _DATE_ISO_RE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DATE_FR_RE.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise InputError("birth_date", N_("Enter your birth date as dd/mm/yyyy, e.g. 14/03/2005."))
    try:
        born = date(year, month, day)
    except ValueError as exc:
        raise InputError("birth_date", N_("This date does not exist.")) from exc
    if born.year < EARLIEST_BIRTH_YEAR or born > today:
        raise InputError("birth_date", N_("Enter your real birth date."))
    return born


def parse_email(field: str, value: str, *, optional: bool = False) -> str | None:
    """An e-mail address, the domain in lower case; ``None`` if optional and empty."""
    text = clean_text(field, value, MAX_EMAIL_LENGTH).replace(" ", "")
    if not text:
        if optional:
            return None
        raise InputError(field, N_("This field is required."))
    if not _EMAIL_RE.fullmatch(text) or len(text) > MAX_EMAIL_LENGTH:
        raise InputError(field, N_("Enter an e-mail address such as name@example.org."))
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_email(value: str) -> str:
    """For comparing addresses: the whole address, case-insensitively."""
    return value.strip().casefold()


def parse_mobile(field: str, value: str, *, optional: bool = False) -> str | None:
    """A mobile number in international form: ``06 12 34 56 78`` is ``+33612345678``."""
    text = clean_text(field, value, 32)
    digits = re.sub(r"[\s.\-()]", "", text)
    if not digits:
        if optional:
            return None
        raise InputError(field, N_("This field is required."))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"0[67]\d{8}", digits):
        digits = "+33" + digits[1:]
    if not re.fullmatch(r"\+[1-9]\d{7,14}", digits):
        raise InputError(
            field, N_("Enter a mobile number such as 06 12 34 56 78 or +33 6 12 34 56 78.")
        )
    return digits


def fold(text: str) -> str:
    """Case-, accent- and space-insensitive form of a name or an answer."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().replace("’", "'").split())


@dataclass(frozen=True)
class Identification:
    """Number + birth date, as typed on a start page."""

    kind: IdentifierKind
    value: str
    birth_date: date

    @property
    def key(self) -> str:
        """Names the person for throttling, whatever the date typed."""
        return f"{self.kind.value}:{self.value}"
