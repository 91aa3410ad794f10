"""``CAS_<SECTION>__<KEY>`` environment values, read by the type of the key's default.

config/default.toml is the schema: a boolean, an integer, a number, a list
or a table there makes the variable one too, whatever a site file holds
(:mod:`.config` passes the default's value). Any other default is a string,
taken as written. Every refusal is a :class:`EnvValueError` saying what was
expected; :mod:`.config` adds the variable's name.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from typing import Any

# Keys whose default is a string that also take a boolean: "true"/"false" are
# booleans there, the listed words stay strings.
STRING_OR_BOOL = {("cookies", "secure"): ("auto",)}
BOOL_WORDS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")  # int() would also take "٣" and "1_0"


class EnvValueError(ValueError):
    """A value that does not fit its key's type: ``[section] key expects …, got '…'``."""


def env_value(raw: str, section: str, key: str, default: Any) -> Any:
    """``raw`` as the type of ``default``, the value of ``[section] key`` in the defaults."""

    def bad(expected: str) -> EnvValueError:
        return EnvValueError(f"[{section}] {key} expects {expected}, got {raw!r}")

    text = raw.strip()
    if (section, key) in STRING_OR_BOOL:
        words = STRING_OR_BOOL[(section, key)]
        if text.lower() in BOOL_WORDS:
            return BOOL_WORDS[text.lower()]
        if text in words:
            return text
        raise bad(" or ".join(f'"{w}"' for w in words) + ", true or false")
    if isinstance(default, bool):  # before int: a bool is an int in Python
        if text.lower() in BOOL_WORDS:
            return BOOL_WORDS[text.lower()]
        raise bad("true or false")
    if isinstance(default, int):
        if not _INTEGER_RE.fullmatch(text):
            raise bad("an integer")
        return int(text)
    if isinstance(default, float):
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):  # no nan or inf for a timeout
            raise bad("a number")
        return number
    if isinstance(default, list):
        value = _list(text, default)
        if value is None:
            raise bad("a TOML or JSON array, or comma-separated values")
        kind = type(default[0]) if default else str
        # bool is an int in Python, not in TOML or JSON: [1, true] is no list of integers.
        if not all(
            isinstance(v, kind) and (kind is bool or not isinstance(v, bool)) for v in value
        ):
            raise bad(f"a list of {'strings' if kind is str else kind.__name__}")
        return value
    if isinstance(default, dict):
        table = _structured(text) if text.startswith("{") else None
        if not isinstance(table, dict):
            raise bad('a table: a TOML inline table or a JSON object, e.g. {mail = "mail"}')
        if all(isinstance(v, str) for v in default.values()) and not all(
            isinstance(v, str) for v in table.values()
        ):
            raise bad("a table of strings")
        return table
    return raw  # a string: spaces and all, as written


def _list(text: str, default: list[Any]) -> list[Any] | None:
    """A TOML or JSON array, or comma-separated strings; None when it is neither."""
    if text.startswith("["):
        value = _structured(text)
        return value if isinstance(value, list) else None
    if default and not isinstance(default[0], str):
        return None  # "1,2" is not split into strings for a list of numbers
    return [v.strip() for v in text.split(",") if v.strip()]


def _structured(text: str) -> Any:
    """A JSON value, else a TOML one (``['a', "b"]``, ``{a = "b"}``); None if neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return None
