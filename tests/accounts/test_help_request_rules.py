"""The help request's rules (#16), pure: the form's fields, limits, references, settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cas_server.accounts.help_requests import (
    MAX_TEXT,
    REFERENCE_ALPHABET,
    Case,
    clean_long_text,
    new_reference,
    parse_phone,
    parse_reference,
    read_draft,
)
from cas_server.accounts.identity import InputError
from cas_server.settings.help_requests import load_help_request_settings
from cas_server.settings.server import ConfigError

GOOD = {
    "requester_name": "Nadia Benali",
    "child_name": "Inès Benali",
    "school": "Collège Jean Moulin, Melun",
    "login_hint": "",
    "contact_email": "nadia.benali@example.org",
    "contact_phone": "",
    "case": "forgot_address",
    "text": "Bonjour,\r\nje ne sais plus quelle adresse j'ai donnée.\r\n\r\n\r\n\r\nMerci",
}


def _read(**changes: str) -> tuple[Any, dict[str, str]]:
    return read_draft({**GOOD, **changes})


def test_a_parent_who_forgot_the_address_is_understood() -> None:
    draft, errors = _read()
    assert errors == {}
    assert draft.case is Case.FORGOT_ADDRESS
    assert draft.login_hint is None and draft.contact_phone is None
    # Line ends made \n, runs of empty lines shortened, nothing else changed.
    assert draft.text == "Bonjour,\nje ne sais plus quelle adresse j'ai donnée.\n\nMerci"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"requester_name": "  "}, "requester_name"),
        ({"child_name": "", "login_hint": ""}, "child_name"),
        ({"contact_email": "", "contact_phone": ""}, "contact_email"),
        ({"contact_email": "not-an-address"}, "contact_email"),
        ({"contact_email": "", "contact_phone": "12"}, "contact_phone"),
        ({"case": "drop table"}, "case"),
        ({"case": "other", "text": " \n "}, "text"),
        ({"text": "x" * (MAX_TEXT + 1)}, "text"),
        ({"text": "bad \x00 byte"}, "text"),
        ({"requester_name": "x" * 101}, "requester_name"),
        ({"school": "s" * 151}, "school"),
        ({"login_hint": "l" * 129}, "login_hint"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, str], field: str) -> None:
    draft, errors = _read(**changes)
    assert draft is None
    assert field in errors


def test_the_text_limit_counts_code_points_after_nfc() -> None:
    # "é" typed as e + combining accent: 2 000 letters, 4 000 code points before NFC.
    draft, errors = _read(text="e\u0301" * MAX_TEXT)
    assert errors == {} and draft is not None
    assert len(draft.text) == MAX_TEXT


def test_a_login_or_a_phone_is_enough() -> None:
    draft, errors = _read(
        child_name="", login_hint="ines.benali", contact_email="", contact_phone="01 64 14 77 77"
    )
    assert errors == {}
    assert draft.login_hint == "ines.benali" and draft.contact_phone == "01 64 14 77 77"


def test_phones_and_long_text() -> None:
    assert parse_phone("p", "+33 6 12 34 56 78") == "+33 6 12 34 56 78"
    assert parse_phone("p", "") is None
    with pytest.raises(InputError):
        parse_phone("p", "call me maybe")
    with pytest.raises(InputError):
        clean_long_text("t", "a\x1bb", 10)


def test_references_are_short_unambiguous_and_random() -> None:
    seen = {new_reference() for _ in range(2000)}
    assert len(seen) == 2000
    for ref in seen:
        assert re.fullmatch(rf"HR-[{REFERENCE_ALPHABET}]{{6}}", ref)
    assert not set("01OILSB58") & set(REFERENCE_ALPHABET)
    ref = next(iter(seen))
    assert parse_reference(ref.lower().replace("-", " ")) == ref
    assert parse_reference("HR-000000") is None


def test_settings_default_off_and_checked() -> None:
    settings = load_help_request_settings({})
    assert settings.enabled is False and settings.retention_days == 90
    on = load_help_request_settings(
        {"help_requests": {"enabled": True, "notify_address": "Desk@Example.ORG"}}
    )
    assert on.enabled and on.notify_address == "Desk@example.org"
    for bad in (
        {"retention_days": 0},
        {"enabled": "yes"},
        {"per_ip": True},
        {"notify_address": "nobody"},
        {"surprise": 1},
    ):
        with pytest.raises(ConfigError):
            load_help_request_settings({"help_requests": bad})
