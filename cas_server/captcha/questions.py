"""The accessible alternative: a question drawn from the bank (:mod:`.bank`).

A question is built in both languages at once from the same words, so the
page shows it in the user's language and either language's answer is taken
(a bilingual person may answer in the other one; it barely widens a guess).
Families differ in their sentence and in what is asked (pick a word of a
category, spot the odd one out, the n-th word of a list, the next day or
month, a word backwards or trimmed, two words joined, an opposite, a fact),
so no single pattern answers most of them, and their answers are spread
over thousands of words so that a guess is right far less than 1 % of the time.

The bank is public with the code: a script written for it can answer. The
question only slows scripts down; the per-address and per-account limits
are what bound them.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from . import bank
from .bank import Word

LANGUAGES: Final = ("fr", "en")
_LANG_INDEX: Final = {"fr": 0, "en": 1}
LIST_LENGTH: Final = 5
_ARTICLES: Final = frozenset({"le", "la", "les", "l", "un", "une", "des", "du", "the", "a", "an"})
_TOKEN: Final = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Question:
    family: str
    text: dict[str, str]  # language -> the question
    accepted: tuple[str, ...]  # normalised answers, in either language


def normalize(typed: str) -> str:
    """What an answer is compared as: no case, accents, spaces, hyphens, quotes or
    punctuation, and no leading article ("L'hiver." → "hiver", "the Green" → "green")."""
    text = unicodedata.normalize("NFKD", typed[:64]).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("œ", "oe").replace("æ", "ae")
    tokens = _TOKEN.findall(text)
    if len(tokens) > 1 and tokens[0] in _ARTICLES and len(tokens[1]) > 1:  # not "a v a n t"
        tokens = tokens[1:]
    return "".join(tokens)


def forms(word: Word, lang: str) -> list[str]:
    """Every accepted spelling of ``word`` in ``lang``; the first is the one shown."""
    return [form.strip() for form in word[_LANG_INDEX[lang]].split("/")]


def shown(word: Word, lang: str) -> str:
    return forms(word, lang)[0]


def _all_forms(word: Word) -> list[str]:
    return [form for lang in LANGUAGES for form in forms(word, lang)]


def _simple(word: Word, low: int, high: int) -> bool:
    """Whether the shown forms are plain letters of a length fit to spell or cut."""
    for lang in LANGUAGES:
        text = normalize(shown(word, lang))
        if not (text.isascii() and text.isalpha() and low <= len(text) <= high):
            return False
        if not shown(word, lang).isalpha():  # no "œ", hyphen or space to puzzle over
            return False
    return True


def _category_words() -> list[Word]:
    return [word for _, words in bank.CATEGORIES.values() for word in words]


POOL: Final[list[Word]] = bank.NEUTRAL + _category_words()
SPELL_POOL: Final[list[Word]] = [w for w in POOL if _simple(w, 4, 7)]
JOIN_POOL: Final[list[Word]] = [w for w in POOL if _simple(w, 3, 6)]


def _unique(answers: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for answer in answers:
        folded = normalize(answer)
        if folded and folded not in out:
            out.append(folded)
    return tuple(out)


def _number_forms(number: int) -> list[str]:
    return [str(number), *_all_forms(bank.NUMBER_WORDS[number])]


def _render(family: str, rng: random.Random, values: dict[str, dict[str, str]]) -> dict[str, str]:
    """The question in each language: one phrasing of the family, drawn at random."""
    phrasings = bank.TEMPLATES[family][1]
    return {
        lang: rng.choice(phrasings[lang]).format(**{k: v[lang] for k, v in values.items()})
        for lang in LANGUAGES
    }


def _listed(words: list[Word]) -> dict[str, str]:
    return {lang: ", ".join(shown(w, lang) for w in words) for lang in LANGUAGES}


def _same(text: str) -> dict[str, str]:
    return dict.fromkeys(LANGUAGES, text)


def _each(word: Word) -> dict[str, str]:
    return {lang: shown(word, lang) for lang in LANGUAGES}


def _category_question(family: str, rng: random.Random) -> Question:
    """pick: one word of the category among others; odd: one outsider among four."""
    name = rng.choice(sorted(bank.CATEGORIES))
    label, members = bank.CATEGORIES[name]
    outsiders = bank.NEUTRAL + [
        w for other, (_, ws) in bank.CATEGORIES.items() if other != name for w in ws
    ]
    if family == "pick":
        answer = rng.choice(members)
        words = [answer, *rng.sample(outsiders, LIST_LENGTH - 1)]
    else:
        answer = rng.choice(outsiders)
        words = [answer, *rng.sample(members, LIST_LENGTH - 1)]
    rng.shuffle(words)
    text = _render(family, rng, {"category": _each(label), "words": _listed(words)})
    return Question(family, text, _unique(_all_forms(answer)))


def _nth_question(family: str, rng: random.Random) -> Question:
    words = rng.sample(POOL, LIST_LENGTH)
    index, (masculine, feminine), english = rng.choice(bank.ORDINALS)
    values = {
        "ordinal": {"fr": masculine, "en": english},
        "ordinal_f": {"fr": feminine, "en": english},
        "words": _listed(words),
    }
    return Question(family, _render(family, rng, values), _unique(_all_forms(words[index])))


def _sequence_question(family: str, rng: random.Random) -> Question:
    series = bank.DAYS if family.startswith("day") else bank.MONTHS
    index = rng.randrange(len(series))
    step = 1 if family.endswith("after") else -1
    answer = series[(index + step) % len(series)]
    text = _render(family, rng, {"word": _each(series[index])})
    return Question(family, text, _unique(_all_forms(answer)))


def _spelling_question(family: str, rng: random.Random) -> Question:
    """backwards, trim_first, trim_last: an operation on the letters of one word."""
    word = rng.choice(SPELL_POOL)
    cut = {
        "backwards": lambda s: s[::-1],
        "trim_first": lambda s: s[1:],
        "trim_last": lambda s: s[:-1],
    }
    answers = [cut[family](normalize(shown(word, lang))) for lang in LANGUAGES]
    return Question(family, _render(family, rng, {"word": _each(word)}), _unique(answers))


def _join_question(family: str, rng: random.Random) -> Question:
    first, second = rng.sample(JOIN_POOL, 2)
    answers = [shown(first, lang) + shown(second, lang) for lang in LANGUAGES]
    text = _render(family, rng, {"first": _each(first), "second": _each(second)})
    return Question(family, text, _unique(answers))


def _opposite_question(family: str, rng: random.Random) -> Question:
    pair = rng.choice(bank.OPPOSITES)
    asked, answer = pair if rng.random() < 0.5 else pair[::-1]
    text = _render(family, rng, {"word": _each(asked)})
    return Question(family, text, _unique(_all_forms(answer)))


def _fact_question(family: str, rng: random.Random) -> Question:
    (french, english), answer = rng.choice(bank.FACTS)
    answers = _number_forms(answer) if isinstance(answer, int) else _all_forms(answer)
    return Question(family, {"fr": french, "en": english}, _unique(answers))


_BUILDERS = {
    "pick": _category_question,
    "odd": _category_question,
    "nth": _nth_question,
    "day_after": _sequence_question,
    "day_before": _sequence_question,
    "month_after": _sequence_question,
    "month_before": _sequence_question,
    "backwards": _spelling_question,
    "trim_first": _spelling_question,
    "trim_last": _spelling_question,
    "join": _join_question,
    "opposite": _opposite_question,
    "fact": _fact_question,
}
FAMILIES: Final = tuple(bank.TEMPLATES)


def generate(rng: random.Random) -> Question:
    """A question of a family drawn by the bank's weights."""
    weights = [bank.TEMPLATES[family][0] for family in FAMILIES]
    family = rng.choices(FAMILIES, weights=weights)[0]
    return _BUILDERS[family](family, rng)


def answer_space() -> frozenset[str]:
    """Every answer some question may accept (normalised): what a guess is drawn from."""
    space: set[str] = set()
    for word in POOL:  # pick, odd, nth
        space.update(_unique(_all_forms(word)))
    for word in bank.DAYS + bank.MONTHS:
        space.update(_unique(_all_forms(word)))
    for word in SPELL_POOL:
        for lang in LANGUAGES:
            text = normalize(shown(word, lang))
            space.update((text[::-1], text[1:], text[:-1]))
    for first in JOIN_POOL:
        for second in JOIN_POOL:
            if first != second:
                space.update(normalize(shown(first, g) + shown(second, g)) for g in LANGUAGES)
    for pair in bank.OPPOSITES:
        for word in pair:
            space.update(_unique(_all_forms(word)))
    for _, answer in bank.FACTS:
        space.update(
            _unique(_number_forms(answer) if isinstance(answer, int) else _all_forms(answer))
        )
    return frozenset(space)
