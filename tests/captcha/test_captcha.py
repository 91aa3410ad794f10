"""The CAPTCHA's core: the question bank resists the cheap scripts of the security
review (issue 11, item 10), honest answers pass, and the SVG cannot be cut into
characters by colour or by element."""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Callable

import pytest

from cas_server import captcha
from cas_server.captcha import bank, image, questions
from tests.support.captcha_solver import number_word_attacker, solve

KEY = b"test-key:captcha"
LANGS = ("fr", "en")


def _challenges(count: int, seed: int) -> list[captcha.Challenge]:
    rng = random.Random(seed)
    return [captcha.question_challenge(rng) for _ in range(count)]


def _passes(challenge: captcha.Challenge, typed: str) -> bool:
    nonce = captcha.new_nonce()
    return captcha.matches(KEY, nonce, "question", typed, captcha.digests(KEY, nonce, challenge))


def test_number_word_attacker_succeeds_at_most_at_chance() -> None:
    challenges = _challenges(500, seed=1)
    wins = sum(_passes(c, number_word_attacker(c.text[lang])) for c in challenges for lang in LANGS)
    assert wins / (2 * len(challenges)) <= 0.01, wins


def test_a_random_guess_from_the_answer_space_succeeds_under_one_percent() -> None:
    space = sorted(questions.answer_space())
    assert len(space) > 5000
    rng = random.Random(2)
    challenges = _challenges(5000, seed=2)
    wins = sum(_passes(c, rng.choice(space)) for c in challenges)
    assert wins / len(challenges) < 0.01, wins


def test_even_the_most_likely_answer_is_right_under_one_percent() -> None:
    """The best single guess (the answer most often accepted) still fails > 99 %."""
    challenges = _challenges(20000, seed=3)
    counts = Counter(answer for c in challenges for answer in c.accepted)
    best, times = counts.most_common(1)[0]
    assert times / len(challenges) < 0.01, (best, times)


_QUOTED = re.compile(r"[«'‘\"]\s*([^»'’\"]+?)\s*[»'’\"]")


def _listed(question: str, rng: random.Random) -> str:
    after = question.split(":", 1)[-1]
    words = [w.strip(" .?") for w in after.split(",")]
    return rng.choice(words) if words else ""


def _quoted(question: str) -> list[str]:
    return _QUOTED.findall(question)


@pytest.mark.parametrize(
    ("name", "attack", "ceiling"),
    [
        ("a random word of the list", _listed, 0.08),
        ("a random word of the question", lambda q, r: r.choice(q.split()), 0.03),
        ("the quoted word", lambda q, r: (_quoted(q) or [""])[0], 0.02),
        ("the quoted word backwards", lambda q, r: (_quoted(q) or [""])[0][::-1], 0.15),
        ("the quoted words joined", lambda q, r: "".join(_quoted(q)), 0.15),
    ],
)
def test_no_single_pattern_answers_most_questions(
    name: str, attack: Callable[[str, random.Random], str], ceiling: float
) -> None:
    rng = random.Random(4)
    challenges = _challenges(1000, seed=4)
    wins = sum(_passes(c, attack(c.text[lang], rng)) for c in challenges for lang in LANGS)
    assert wins / (2 * len(challenges)) < ceiling, (name, wins)


def _variants(answer: str) -> list[str]:
    plain = "".join(ch for ch in questions.normalize(answer))
    return [
        answer,
        answer.upper(),
        answer.capitalize(),
        f"  {answer}  ",
        f"{answer}.",
        f"« {answer} »",
        f"'{answer}'",
        plain,  # typed without accents
        " ".join(answer),  # spelt letter by letter, as some screen-reader users type
    ]


def test_honest_answers_pass_whatever_their_case_accents_and_spaces() -> None:
    for challenge in _challenges(400, seed=5):
        for lang in LANGS:
            solved = solve(challenge.text[lang])
            assert solved is not None, challenge.text[lang]
            for typed in _variants(solved[0]):
                assert _passes(challenge, typed), (challenge.text[lang], typed)


def _drawn(family: str, wanted: str) -> captcha.Challenge:
    """The first question drawn of ``family`` whose accepted answers include ``wanted``."""
    rng = random.Random(6)
    for _ in range(200000):
        challenge = captcha.question_challenge(rng)
        if challenge.family == family and wanted in challenge.accepted:
            return challenge
    raise AssertionError((family, wanted))


@pytest.mark.parametrize(
    ("family", "wanted", "typed"),
    [
        ("day_after", "mercredi", ["Mercredi", " MERCREDI ", "le mercredi", "Wednesday"]),
        ("month_after", "aout", ["Août", "aout", "AOÛT.", "August", "august"]),
        ("fact", "7", ["7", " 7 ", "sept", "Sept", "seven", "SEVEN"]),
        ("fact", "24", ["24", "twenty-four", "twenty four", "vingt-quatre", "Vingt quatre"]),
        (
            "fact",
            "petitdejeuner",
            ["petit déjeuner", "Petit-Déjeuner", "le petit dejeuner", "breakfast"],
        ),
        ("fact", "oeil", ["les yeux", "œil", "oeil", "Eyes", "an eye"]),
        ("opposite", "cold", ["cold", "Cold!", "froid", "Froide", "the cold"]),
        ("pick", "green", ["Green", " green.", "vert", "verte", "VERT"]),
        ("backwards", "elbat", ["elbat", "ELBAT", "e l b a t", "Elbat."]),
    ],
)
def test_honest_answers_pass_in_both_languages(family: str, wanted: str, typed: list[str]) -> None:
    challenge = _drawn(family, wanted)
    for answer in typed:
        assert _passes(challenge, answer), (challenge.text, answer)
    assert not _passes(challenge, "")
    assert not _passes(challenge, "   ")
    assert not _passes(challenge, "xylophone")


def test_the_bank_is_complete_in_both_languages_and_every_question_has_an_answer() -> None:
    placeholders = re.compile(r"\{(\w+)\}")
    count = 0
    for family, (weight, phrasings) in bank.TEMPLATES.items():
        assert weight > 0 and family in questions.FAMILIES
        if family == "fact":
            continue
        assert set(phrasings) == set(LANGS), family
        assert len(phrasings["fr"]) == len(phrasings["en"]) >= 2, family
        used = {
            lang: [{p.removesuffix("_f") for p in placeholders.findall(t)} for t in phrasings[lang]]
            for lang in LANGS
        }
        for one in used["fr"] + used["en"]:
            assert one == used["en"][0], (family, one)
        count += len(phrasings["fr"])
    for (french, english), answer in bank.FACTS:
        assert french.strip() and english.strip() and french != english
        assert french.endswith(" ?") and english.endswith("?") and not english.endswith(" ?")
        if isinstance(answer, int):
            assert answer in bank.NUMBER_WORDS, french
        else:
            assert all(questions.forms(answer, lang)[0] for lang in LANGS), french
    count += len(bank.FACTS) + 2 * len(bank.OPPOSITES)
    assert count >= 60  # several dozen questions, before their words are drawn
    words = [*bank.NEUTRAL, *bank.DAYS, *bank.MONTHS, *(w for p in bank.OPPOSITES for w in p)]
    words += [label for label, _ in bank.CATEGORIES.values()]
    words += [w for _, ws in bank.CATEGORIES.values() for w in ws]
    for word in words:
        assert len(word) == 2 and all(
            f.strip() for lang in LANGS for f in questions.forms(word, lang)
        ), word
    for lang in LANGS:  # no word in two categories, nor a neutral one in any
        seen: dict[str, str] = {}
        for name, (_, members) in bank.CATEGORIES.items():
            for word in members:
                folded = questions.normalize(questions.shown(word, lang))
                assert seen.setdefault(folded, name) == name, (lang, folded)
        for word in bank.NEUTRAL:
            assert questions.normalize(questions.shown(word, lang)) not in seen, (lang, word)
    # Every family and phrasing is drawn, and answered by what a person would type.
    drawn: set[str] = set()
    for challenge in _challenges(4000, seed=7):
        drawn.add(challenge.family)
        assert challenge.accepted and all(challenge.accepted), challenge
        assert len(challenge.accepted) <= captcha.DIGEST_SLOTS, challenge
        for lang in LANGS:
            text = challenge.text[lang]
            assert text and "{" not in text, text
            solved = solve(text)
            assert solved is not None and solved[1] == lang, text
            assert questions.normalize(solved[0]) in challenge.accepted, (text, challenge.accepted)
    assert drawn == set(questions.FAMILIES)


def test_questions_are_not_all_alike() -> None:
    """A rotating bank: many families, many phrasings, hardly a question twice."""
    challenges = _challenges(1000, seed=8)
    assert len({c.family for c in challenges}) == len(questions.FAMILIES) >= 8
    assert len({c.text["fr"] for c in challenges}) > 750  # facts come back, rarely
    starts = Counter(" ".join(c.text["en"].split()[:3]) for c in challenges)
    assert starts.most_common(1)[0][1] < 150  # no opening shared by most questions


def test_normalisation() -> None:
    assert questions.normalize("  L'Hiver. ") == "hiver"
    assert questions.normalize("« Été »") == "ete"
    assert questions.normalize("Petit-Déjeuner") == "petitdejeuner"
    assert questions.normalize("the GREEN") == "green"
    assert questions.normalize("Œil") == "oeil"
    assert questions.normalize("neuf") == "neuf"  # a word, not the number 9
    assert captcha.normalize("image", " ab c- ") == "ABC"


# The image ---------------------------------------------------------------------------

_STROKE = re.compile(r'<(path|polyline)\b[^>]*\bstroke="([^"]+)"[^>]*>')
_COORDS = re.compile(r"(-?\d+(?:\.\d+)?)[ ,](-?\d+(?:\.\d+)?)")


def test_strokes_cannot_be_grouped_into_characters_by_colour_from_the_svg() -> None:
    """From the SVG alone: fewer stroke colours than characters, and each colour's
    strokes spread over most of the image (a character is a sixth of it)."""
    for seed in range(20):
        text = "".join(random.Random(seed).choice(captcha.ALPHABET) for _ in range(5))
        svg = captcha.draw(text, random.Random(seed))
        assert "<text" not in svg and text not in svg
        xs: dict[str, list[float]] = {}
        for element in _STROKE.finditer(svg):
            points = _COORDS.findall(element.group(0).split('points="')[-1].split('d="')[-1])
            xs.setdefault(element.group(2), []).extend(float(x) for x, _ in points)
        assert len(xs) < len(text), xs.keys()
        for colour, values in xs.items():
            assert max(values) - min(values) > 0.6 * captcha.WIDTH, colour


def test_no_colour_nor_element_belongs_to_one_character() -> None:
    for seed in range(30):
        rng = random.Random(seed)
        text = "".join(rng.choice(captcha.ALPHABET) for _ in range(5))
        drawing = captcha.render(text, rng)
        owners_of: dict[str, set[int]] = {}
        colours_of: dict[int, set[str]] = {}
        in_element: dict[int, set[int]] = {}
        for run in drawing.runs:
            owners_of.setdefault(run.colour, set()).add(run.owner)
            colours_of.setdefault(run.owner, set()).add(run.colour)
            in_element.setdefault(run.element, set()).add(run.owner)
        for colour, owners in owners_of.items():
            characters = {o for o in owners if o >= 0}
            assert len(characters) == len(text), (seed, colour)  # every character
            assert image.NOISE in owners, (seed, colour)  # and the noise
        for index in range(len(text)):
            assert len(colours_of[index]) >= 3, (seed, index)  # colour varies along strokes
        for owners in in_element.values():
            assert len({o for o in owners if o >= 0}) >= 2, seed
        assert image.DECOY in colours_of
        widths = re.findall(r'stroke-width="([\d.]+)"', drawing.svg)
        assert max(map(float, widths)) / min(map(float, widths)) < 1.2  # noise as wide as glyphs


def test_each_character_is_warped_not_only_moved() -> None:
    """An affine map keeps midpoints; the per-character warp does not."""
    rng = random.Random(9)
    for _ in range(50):
        warp = image._Warp.draw(rng)
        a, b = warp(0.2, 0.1), warp(0.8, 0.9)
        middle = warp(0.5, 0.5)
        gap = abs(middle[0] - (a[0] + b[0]) / 2) + abs(middle[1] - (a[1] + b[1]) / 2)
        assert gap > 0.005


def test_image_answer_uses_the_alphabet_and_is_not_in_the_svg() -> None:
    challenge = captcha.image_challenge(5, random.Random(10))
    assert len(challenge.answer) == 5 and set(challenge.answer) <= set(captcha.ALPHABET)
    assert challenge.accepted == (challenge.answer,)
    assert challenge.answer not in challenge.svg
    assert not set(string.ascii_uppercase) & set(re.sub(r"<[^>]*>", "", challenge.svg))
