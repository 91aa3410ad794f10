"""Help requests ("Problème de connexion ?", ENT77's parents' form): the rules, pure.

A person who cannot sign in (often a parent who forgot the address they gave)
says who they are, which account it is about as far as they know, how to
reach them and what is wrong. Nothing here looks an account up: the public
form never tells whether one exists (T1); the help desk links the request
to an account from the console's search, then acts from the record.

The request's steps: ``new`` → ``assigned`` (an operator took it) → ``done``
(closed). Closed requests are kept ``retention_days`` and then purged (CNIL).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .i18n import N_
from .identity import InputError, clean_text, has_control_characters, parse_email

MAX_NAME = 100
MAX_SCHOOL = 150
MAX_LOGIN_HINT = 128
MAX_PHONE = 32
MAX_TEXT = 2000
MAX_ANSWER = 4000
MAX_NOTE = 500

#: No 0/O, 1/I/L, 5/S, 8/B: a reference read out on the phone is not misheard.
REFERENCE_ALPHABET = "ACDEFGHJKMNPQRTUVWXYZ234679"
REFERENCE_LENGTH = 6
REFERENCE_PREFIX = "HR-"
_REFERENCE_RE = re.compile(rf"HR-?[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 .\-()]{5,30}")


class Case(StrEnum):
    """The common cases the form offers (what the help desk sees most)."""

    FORGOT_ADDRESS = "forgot_address"
    NO_ACTIVATION_MAIL = "no_activation_mail"
    LOCKED = "locked"
    FORGOT_LOGIN = "forgot_login"
    OTHER = "other"


CASE_LABELS: Mapping[Case, str] = {
    Case.FORGOT_ADDRESS: N_("I forgot the e-mail address I gave, so I cannot reset my password"),
    Case.NO_ACTIVATION_MAIL: N_("I did not receive the activation message"),
    Case.LOCKED: N_("My account is locked or suspended"),
    Case.FORGOT_LOGIN: N_("I forgot my identifier"),
    Case.OTHER: N_("Something else"),
}


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    DONE = "done"


STATUS_LABELS: Mapping[Status, str] = {
    Status.NEW: N_("New"),
    Status.ASSIGNED: N_("Assigned"),
    Status.DONE: N_("Done"),
}

#: The canned answers: ``mail/help_answer_<key>.txt`` in the theme, editable before sending.
CANNED_ANSWERS: Mapping[str, str] = {
    "reset_link_sent": N_("A password-reset link was sent"),
    "activation_resent": N_("The activation was sent again"),
    "unlocked": N_("The account was unlocked"),
    "identifier": N_("The identifier was sent"),
    "cannot_identify": N_("We could not identify the account"),
}


@dataclass(frozen=True)
class Draft:
    """What the public form gave, checked; every text NFC, within its limit."""

    requester_name: str
    child_name: str | None
    school: str | None
    login_hint: str | None
    contact_email: str | None
    contact_phone: str | None
    case: Case
    text: str


@dataclass(frozen=True)
class HelpRequest:
    id: str
    reference: str
    created_at: float
    language: str
    requester_name: str
    child_name: str | None
    school: str | None
    login_hint: str | None
    contact_email: str | None
    contact_phone: str | None
    case: Case
    text: str
    status: Status
    assigned_to: str | None
    account_uuid: str | None
    closed_at: float | None
    answer: str | None
    answered_at: float | None


@dataclass(frozen=True)
class HelpEvent:
    at: float
    actor: str | None
    kind: str
    detail: str | None


def new_reference() -> str:
    """``HR-7K3F9Q``: 27⁶ ≈ 390 million, drawn from ``secrets``; unique in the store."""
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return REFERENCE_PREFIX + body


def parse_reference(value: str) -> str | None:
    """What someone typed or read out (``hr 7k3f9q``), as stored; None if it is none."""
    text = re.sub(r"[\s_]", "", value.upper())[: len(REFERENCE_PREFIX) + REFERENCE_LENGTH + 2]
    if not _REFERENCE_RE.fullmatch(text):
        return None
    return REFERENCE_PREFIX + text[-REFERENCE_LENGTH:]


def clean_long_text(field: str, value: str, max_length: int) -> str:
    """Free text over several lines: NFC, line ends made ``\\n``, trimmed; no control
    character but the line end and the tab; refused beyond ``max_length`` code points."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if has_control_characters(text.replace("\n", " ").replace("\t", " ")):
        raise InputError(field, N_("This field contains characters that are not allowed."))
    text = "\n".join(line.rstrip() for line in text.strip().split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    if len(text) > max_length:
        raise InputError(field, N_("This text is too long."))
    return text


def parse_phone(field: str, value: str) -> str | None:
    """A phone number to call back (landlines too): digits and the usual separators."""
    text = clean_text(field, value, MAX_PHONE)
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if not _PHONE_RE.fullmatch(text) or not 6 <= len(digits) <= 15:
        raise InputError(field, N_("Enter a phone number such as 01 23 45 67 89."))
    return text


def parse_case(value: str) -> Case:
    try:
        return Case(value)
    except ValueError:
        raise InputError("case", N_("Choose what is wrong.")) from None


def read_draft(values: Mapping[str, str]) -> tuple[Draft | None, dict[str, str]]:
    """The public form's fields checked; ``(draft, {})`` or ``(None, {field: msgid})``.

    Who asks (required); which account: the child's name or a login (one of
    them); how to answer: an e-mail address or a phone number (one of them);
    the case (required); free text (required for "something else").
    """
    errors: dict[str, str] = {}

    def take(field: str, parse: object, *args: object) -> object:
        try:
            return parse(field, str(values.get(field, "")), *args)  # type: ignore[operator]
        except InputError as exc:
            errors.setdefault(exc.field, exc.message)
            return None

    name = take("requester_name", clean_text, MAX_NAME)
    child = take("child_name", clean_text, MAX_NAME)
    school = take("school", clean_text, MAX_SCHOOL)
    login = take("login_hint", clean_text, MAX_LOGIN_HINT)
    email = take("contact_email", _optional_email)
    phone = take("contact_phone", parse_phone)
    text = take("text", clean_long_text, MAX_TEXT)
    case: Case | None = None
    try:
        case = parse_case(str(values.get("case", "")))
    except InputError as exc:
        errors.setdefault(exc.field, exc.message)
    if name == "" and "requester_name" not in errors:
        errors["requester_name"] = N_("This field is required.")
    if not child and not login and not {"child_name", "login_hint"} & errors.keys():
        errors["child_name"] = N_(
            "Give the name of the account's holder (your child, or yourself), or its identifier."
        )
    if not email and not phone and not {"contact_email", "contact_phone"} & errors.keys():
        errors["contact_email"] = N_("Give an e-mail address or a phone number to answer you.")
    if case is Case.OTHER and text == "" and "text" not in errors:
        errors["text"] = N_("Tell us what is wrong.")
    if errors:
        return None, errors
    return (
        Draft(
            requester_name=str(name),
            child_name=str(child) or None,
            school=str(school) or None,
            login_hint=str(login) or None,
            contact_email=str(email) if email else None,
            contact_phone=str(phone) if phone else None,
            case=case or Case.OTHER,
            text=str(text),
        ),
        {},
    )


def _optional_email(field: str, value: str) -> str | None:
    return parse_email(field, value, optional=True)


def search_hint(request: HelpRequest) -> str:
    """What the console's search starts with: the login if given, else the child's name."""
    return request.login_hint or request.child_name or request.requester_name


def may_change(request: HelpRequest) -> bool:
    """Assign, link and answer only while the request is open."""
    return request.status is not Status.DONE
