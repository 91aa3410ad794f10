"""Answers the accessible CAPTCHA question of a page, for the tests that fill forms.

It reads the bank (:mod:`cas_server.captcha.bank`), as anyone can who has the
code: that a script built on the bank answers every question is expected
(the question slows scripts down; the rate limits bound them), and
``tests/captcha/test_captcha.py`` checks it answers all of them, so that the
forms' tests never fail on the CAPTCHA.

:func:`number_word_attacker` is the other side: the security review's cheap
script, which the bank must defeat (``tests/captcha``, ``tests/web/sesame``).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

from cas_server.captcha import bank
from cas_server.captcha.questions import LANGUAGES, shown

QUESTION_IN_PAGE = re.compile(r'<span class="captcha__question"[^>]*>(.*?)</span>', re.S)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(regex, re.S)


def _find(words: list[bank.Word], text: str, lang: str) -> int:
    return [shown(w, lang) for w in words].index(text)


def _category(values: dict[str, str], lang: str) -> list[str]:
    for label, members in bank.CATEGORIES.values():
        if shown(label, lang) == values["category"]:
            return [shown(w, lang) for w in members]
    raise ValueError(values["category"])


def _ordinal(values: dict[str, str], lang: str) -> int:
    said = values.get("ordinal") or values["ordinal_f"]
    for index, french, english in bank.ORDINALS:
        if said in ((*french,) if lang == "fr" else (english,)):
            return index
    raise ValueError(said)


def _sequence(series: list[bank.Word], step: int) -> Callable[[dict[str, str], str], str]:
    def answer(values: dict[str, str], lang: str) -> str:
        return shown(series[(_find(series, values["word"], lang) + step) % len(series)], lang)

    return answer


def _opposite(values: dict[str, str], lang: str) -> str:
    for a, b in bank.OPPOSITES:
        if shown(a, lang) == values["word"]:
            return shown(b, lang)
        if shown(b, lang) == values["word"]:
            return shown(a, lang)
    raise ValueError(values["word"])


def _words(values: dict[str, str]) -> list[str]:
    return values["words"].split(", ")


_FAMILIES: dict[str, Callable[[dict[str, str], str], str]] = {
    "pick": lambda v, lang: next(w for w in _words(v) if w in _category(v, lang)),
    "odd": lambda v, lang: next(w for w in _words(v) if w not in _category(v, lang)),
    "nth": lambda v, lang: _words(v)[_ordinal(v, lang)],
    "day_after": _sequence(bank.DAYS, 1),
    "day_before": _sequence(bank.DAYS, -1),
    "month_after": _sequence(bank.MONTHS, 1),
    "month_before": _sequence(bank.MONTHS, -1),
    "backwards": lambda v, lang: v["word"][::-1],
    "trim_first": lambda v, lang: v["word"][1:],
    "trim_last": lambda v, lang: v["word"][:-1],
    "join": lambda v, lang: v["first"] + v["second"],
    "opposite": _opposite,
}


def solve(question: str) -> tuple[str, str] | None:
    """(the answer as a person would type it, the question's language), or None."""
    for lang_index, lang in enumerate(LANGUAGES):
        for texts, answer in bank.FACTS:
            if texts[lang_index] == question:
                return (str(answer) if isinstance(answer, int) else shown(answer, lang)), lang
        for family, compute in _FAMILIES.items():
            for template in bank.TEMPLATES[family][1][lang]:
                found = _pattern(template).fullmatch(question)
                if found is None:
                    continue
                try:
                    return compute(found.groupdict(), lang), lang
                except (ValueError, IndexError, StopIteration):
                    continue
    return None


def question_in(page: str) -> str | None:
    found = QUESTION_IN_PAGE.search(page)
    return html_lib.unescape(found.group(1)).strip() if found else None


def answer_in(page: str) -> str | None:
    """The answer to the CAPTCHA question shown in ``page``, if there is one."""
    question = question_in(page)
    if question is None:
        return None
    solved = solve(question)
    if solved is None:
        raise AssertionError(f"no answer in the bank for the CAPTCHA question {question!r}")
    return solved[0]


# The review's attacker: a few lines of regular expressions over number words.
_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen",
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit",
)
_NUMBERS = {word: value for words in _WORDS for value, word in enumerate(words.split(" "))}


def number_word_attacker(question: str) -> str:
    words = re.findall(r"[a-zéèêàç]+", question.casefold())
    found = [_NUMBERS[w] for w in words if w in _NUMBERS]
    sum_of = re.search(r"(\w+) (?:plus|and|et) (\w+)", question.casefold())
    if sum_of and all(w in _NUMBERS for w in sum_of.groups()):
        return str(sum(_NUMBERS[w] for w in sum_of.groups()))
    return str(sum(found)) if found else "10"  # the most frequent sum of two digits
