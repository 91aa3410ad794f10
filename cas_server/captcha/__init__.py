"""A self-hosted CAPTCHA: no third-party service sees our users.

Two forms, one choice away from each other: an SVG of distorted characters
(:mod:`.image`) and, for whoever cannot see it, a question in words drawn
from a bank in French and English (:mod:`.questions`, :mod:`.bank`).

The answer never reaches the browser: the page keeps HMACs of the accepted
answers (keyed by the server's secret and a one-time nonce) in the signed
session; the web layer checks them once and records the nonce so a replayed
cookie fails. Neither form stops a determined program (the bank is public,
images can be recognised): the CAPTCHA slows scripts down, the per-address
and per-account limits are what bound them.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass, field

from . import questions
from .image import ALPHABET, GLYPHS, HEIGHT, WIDTH, Drawing, draw, render
from .questions import LANGUAGES

__all__ = [
    "ALPHABET",
    "GLYPHS",
    "HEIGHT",
    "LANGUAGES",
    "WIDTH",
    "Challenge",
    "Drawing",
    "answer_digest",
    "digests",
    "draw",
    "image_challenge",
    "matches",
    "new_nonce",
    "normalize",
    "question_challenge",
    "render",
]


@dataclass(frozen=True)
class Challenge:
    kind: str  # "image" or "question"
    answer: str  # the first accepted answer, normalised
    accepted: tuple[str, ...] = ()  # every accepted answer, normalised
    svg: str = ""
    text: dict[str, str] = field(default_factory=dict)  # the question, per language
    family: str = ""


def image_challenge(length: int = 5, rng: random.Random | None = None) -> Challenge:
    if rng is None:
        # The characters from the system's generator; the thousands of draws of
        # the drawing (not the answer) from a fast one, freshly seeded from it.
        answer = "".join(secrets.choice(ALPHABET) for _ in range(length))
        noise = random.Random(secrets.randbits(128))  # noqa: S311  # nosec B311
        return Challenge("image", answer, (answer,), svg=draw(answer, noise))
    answer = "".join(rng.choice(ALPHABET) for _ in range(length))
    return Challenge("image", answer, (answer,), svg=draw(answer, rng))


def question_challenge(rng: random.Random | None = None) -> Challenge:
    """A question of the bank, in every language; either language's answer is taken."""
    q = questions.generate(rng or random.SystemRandom())
    return Challenge("question", q.accepted[0], q.accepted, text=q.text, family=q.family)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def answer_digest(key: bytes, nonce: str, answer: str) -> str:
    return hmac.new(key, f"{nonce}:{answer}".encode(), hashlib.sha256).hexdigest()


DIGEST_CHARS = 32  # 128 bits of HMAC-SHA256 are plenty, and keep the cookie small
DIGEST_SLOTS = 8  # every challenge keeps as many: the count tells nothing of the question


def digests(key: bytes, nonce: str, challenge: Challenge) -> list[str]:
    """What the session keeps: an HMAC per accepted answer, padded with random
    values to a fixed count, in random order; never the answer."""
    out = [answer_digest(key, nonce, answer)[:DIGEST_CHARS] for answer in challenge.accepted]
    out += [secrets.token_hex(DIGEST_CHARS // 2) for _ in range(DIGEST_SLOTS - len(out))]
    random.SystemRandom().shuffle(out)
    return out


def normalize(kind: str, typed: str) -> str:
    """Image: letters and digits, any case, spaces ignored. Question: see
    :func:`questions.normalize` (case, accents, spaces, punctuation, article)."""
    if kind == "image":
        return "".join(ch for ch in typed[:32] if ch.isalnum()).upper()
    return questions.normalize(typed)


def matches(key: bytes, nonce: str, kind: str, typed: str, expected: list[str]) -> bool:
    """Whether ``typed`` is one of the answers whose HMACs are ``expected``."""
    answer = normalize(kind, typed)
    if not answer:
        return False
    mine = answer_digest(key, nonce, answer)[:DIGEST_CHARS]
    found = False
    for digest in expected:  # every one compared: the time tells nothing
        found |= hmac.compare_digest(mine, digest)
    return found
