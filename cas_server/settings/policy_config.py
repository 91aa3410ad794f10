"""Build a password policy from its declarative form (a TOML table).

Keys, all optional but ``min_length``::

    min_length = 12            max_length = 30
    classes = { lower = 1, upper = 1, digit = 1, special = 1 }
    special_characters = '!"#$%&()*+,/:;<=>?@[]^`{}~'   (only these count as special)
    classes_k_of_n = 3         forbid_whitespace = true
    forbidden_characters = "<>"
    not_login = true           name_run = 2
    history = 3                blocklists = ["common-passwords.txt"]
    min_entropy_bits = 80      (CNIL 2022-100: length × log2(kinds of characters used))
    min_zxcvbn_score = 3       (zxcvbn's estimate, 0–4; checked on the server)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..accounts.entropy import MinEntropy, MinZxcvbnScore
from ..accounts.policy import (
    CLASSES,
    Blocklist,
    ClassesKOfN,
    ClassMinimum,
    ForbiddenCharacters,
    MaxLength,
    MinLength,
    NameRun,
    NotContainsLogin,
    NotInHistory,
    PasswordPolicy,
    Rule,
)

KEYS = {
    "name",
    "description",
    "min_length",
    "max_length",
    "classes",
    "special_characters",
    "classes_k_of_n",
    "forbid_whitespace",
    "forbidden_characters",
    "not_login",
    "name_run",
    "history",
    "blocklists",
    "min_entropy_bits",
    "min_zxcvbn_score",
}
DEFAULT_MAX_LENGTH = 128  # never silently truncate; ≥ 64 unless a profile says otherwise (T21)


class PolicyError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _int(data: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(key, f"must be an integer between {low} and {high}")
    return value


def _special_characters(data: Mapping[str, Any]) -> str | None:
    """The characters that count as special (UPHF lists them), or None: any sign counts.

    Only signs: a letter, a digit or a space listed there could never count as special.
    """
    value = data.get("special_characters")
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(ch.isalnum() or ch.isspace() for ch in value):
        raise PolicyError(
            "special_characters", "must be a non-empty string of signs (no letter, digit or space)"
        )
    return "".join(dict.fromkeys(value))  # each once, in the policy's order


def policy_from_mapping(
    name: str, data: Mapping[str, Any], load_words: Callable[[str], frozenset[str]]
) -> PasswordPolicy:
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise PolicyError(unknown[0], "unknown key")
    rules: list[Rule] = []
    min_length = _int(data, "min_length", 1, 1024)
    if min_length is None:
        raise PolicyError("min_length", "required")
    max_length = _int(data, "max_length", 1, 4096) or DEFAULT_MAX_LENGTH
    if max_length < min_length:
        raise PolicyError("max_length", "smaller than min_length")
    rules += [MinLength(min_length), MaxLength(max_length)]
    specials = _special_characters(data)
    classes = data.get("classes", {})
    if not isinstance(classes, Mapping) or not set(classes) <= set(CLASSES):
        raise PolicyError("classes", f"a table with keys among {', '.join(CLASSES)}")
    for cls in CLASSES:
        n = _int(classes, cls, 0, 64)
        if n:
            rules.append(ClassMinimum(cls, n, specials if cls == "special" else None))
    k = _int(data, "classes_k_of_n", 1, 4)
    if k:
        rules.append(ClassesKOfN(k, specials))
    forbidden = data.get("forbidden_characters", "")
    if not isinstance(forbidden, str):
        raise PolicyError("forbidden_characters", "must be a string")
    whitespace = data.get("forbid_whitespace", False)
    if not isinstance(whitespace, bool):
        raise PolicyError("forbid_whitespace", "must be true or false")
    if forbidden or whitespace:
        rules.append(ForbiddenCharacters(forbidden, whitespace))
    not_login = data.get("not_login", True)
    if not isinstance(not_login, bool):
        raise PolicyError("not_login", "must be true or false")
    if not_login:
        rules.append(NotContainsLogin())
    run = _int(data, "name_run", 1, 64)
    if run:
        rules.append(NameRun(run))
    lists = data.get("blocklists", [])
    if not isinstance(lists, list) or not all(isinstance(x, str) for x in lists):
        raise PolicyError("blocklists", "must be a list of file names")
    if lists:
        words: frozenset[str] = frozenset()
        for list_name in lists:
            words |= load_words(list_name)
        rules.append(Blocklist(words))
    bits = _int(data, "min_entropy_bits", 1, 512)
    if bits:
        rules.append(MinEntropy(bits, specials))
    score = _int(data, "min_zxcvbn_score", 0, 4)
    if score:
        rules.append(MinZxcvbnScore(score))
    history = _int(data, "history", 0, 64)
    if history:
        rules.append(NotInHistory(history))
    return PasswordPolicy(name=name, rules=tuple(rules))
