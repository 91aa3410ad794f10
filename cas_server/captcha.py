"""A self-hosted CAPTCHA: no third-party service sees our users.

The image is an SVG drawn here from a small stroke font: every character
is a set of polylines, scaled, rotated, sheared and jittered at random,
over noise curves. There is no text in the SVG to read. The accessible
alternative is a question in words ("How much is three plus four?").

The answer never reaches the browser: the page keeps an HMAC of it (keyed
by the server's secret and a one-time nonce) in the signed session; the web
layer checks it once and records the nonce so a replayed cookie fails.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import secrets
from dataclasses import dataclass

from .i18n import N_

ALPHABET = "ACDEFHJKLMNPRTUVWXY2347"
Stroke = list[tuple[float, float]]

_P = [(0, 1), (0, 0), (0.75, 0), (1, 0.2), (1, 0.38), (0.75, 0.55), (0, 0.55)]
GLYPHS: dict[str, list[Stroke]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "C": [[(1, 0.15), (0.7, 0), (0.3, 0), (0, 0.3), (0, 0.7), (0.3, 1), (0.7, 1), (1, 0.85)]],
    "D": [[(0, 0), (0, 1), (0.6, 1), (1, 0.7), (1, 0.3), (0.6, 0), (0, 0)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "J": [[(1, 0), (1, 0.75), (0.75, 1), (0.25, 1), (0, 0.75)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.6)], [(0.35, 0.4), (1, 1)]],
    "L": [[(0, 0), (0, 1), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.55), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "P": [_P],
    "R": [_P, [(0.45, 0.55), (1, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "U": [[(0, 0), (0, 0.75), (0.25, 1), (0.75, 1), (1, 0.75), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "2": [[(0, 0.2), (0.3, 0), (0.7, 0), (1, 0.25), (0, 1), (1, 1)]],
    "3": [
        [(0, 0.1), (0.3, 0), (0.75, 0), (1, 0.2), (0.75, 0.47), (0.35, 0.5)],
        [(0.75, 0.53), (1, 0.8), (0.75, 1), (0.3, 1), (0, 0.9)],
    ],
    "4": [[(0.8, 1), (0.8, 0), (0, 0.7), (1, 0.7)]],
    "7": [[(0, 0), (1, 0), (0.35, 1)]],
}

NUMBER_WORDS = (
    N_("zero"),
    N_("one"),
    N_("two"),
    N_("three"),
    N_("four"),
    N_("five"),
    N_("six"),
    N_("seven"),
    N_("eight"),
    N_("nine"),
    N_("ten"),
    N_("eleven"),
    N_("twelve"),
    N_("thirteen"),
    N_("fourteen"),
    N_("fifteen"),
    N_("sixteen"),
    N_("seventeen"),
    N_("eighteen"),
)
QUESTION = N_("How much is %(a)s plus %(b)s?")
WIDTH, HEIGHT = 220, 80


@dataclass(frozen=True)
class Challenge:
    kind: str  # "image" or "question"
    answer: str
    svg: str = ""
    a: int = 0
    b: int = 0


def _transform(
    points: Stroke,
    x0: float,
    y0: float,
    size: float,
    angle: float,
    shear: float,
    rng: random.Random,
) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for px, py in points:
        x = (px - 0.5) * size * 0.7 + (py - 0.5) * size * shear
        y = (py - 0.5) * size
        rx, ry = x * cos - y * sin, x * sin + y * cos
        out.append((x0 + rx + rng.uniform(-1.4, 1.4), y0 + ry + rng.uniform(-1.4, 1.4)))
    return out


def draw(text: str, rng: random.Random) -> str:
    """The SVG of ``text``: polylines only, no <text> for a script to read."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f4f6f9"/>',
    ]
    for _ in range(5):  # noise curves, drawn under and over the characters
        pts = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)) for _ in range(4)]
        d = "M{:.1f} {:.1f} C{:.1f} {:.1f} {:.1f} {:.1f} {:.1f} {:.1f}".format(
            *[c for p in pts for c in p]
        )
        shade = rng.randint(90, 170)
        parts.append(
            f'<path d="{d}" fill="none" stroke="rgb({shade},{shade},{shade + 20})" '
            f'stroke-width="{rng.uniform(1, 2):.1f}"/>'
        )
    step = (WIDTH - 30) / max(len(text), 1)
    for index, char in enumerate(text):
        size = rng.uniform(30, 40)
        x0 = 15 + step * (index + 0.5) + rng.uniform(-4, 4)
        y0 = HEIGHT / 2 + rng.uniform(-8, 8)
        angle = math.radians(rng.uniform(-20, 20))
        shear = rng.uniform(-0.2, 0.2)
        colour = f"rgb({rng.randint(10, 60)},{rng.randint(20, 70)},{rng.randint(60, 120)})"
        width = rng.uniform(2.6, 3.6)
        for stroke in GLYPHS[char]:
            pts = _transform(stroke, x0, y0, size, angle, shear, rng)
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                f'stroke-width="{width:.1f}" stroke-linecap="round" stroke-linejoin="round"/>'
            )
    for _ in range(30):
        parts.append(
            f'<circle cx="{rng.uniform(0, WIDTH):.1f}" cy="{rng.uniform(0, HEIGHT):.1f}" '
            f'r="{rng.uniform(0.6, 1.6):.1f}" fill="#5a6472"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def image_challenge(length: int = 5, rng: random.Random | None = None) -> Challenge:
    rng = rng or random.SystemRandom()
    answer = "".join(rng.choice(ALPHABET) for _ in range(length))
    return Challenge("image", answer, svg=draw(answer, rng))


def question_challenge(rng: random.Random | None = None) -> Challenge:
    rng = rng or random.SystemRandom()
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return Challenge("question", str(a + b), a=a, b=b)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def answer_digest(key: bytes, nonce: str, answer: str) -> str:
    return hmac.new(key, f"{nonce}:{answer}".encode(), hashlib.sha256).hexdigest()


def normalize_answer(kind: str, typed: str, words: dict[str, int]) -> str:
    """Image: letters and digits, any case, spaces ignored. Question: digits or a word."""
    text = "".join(typed.split())[:32]
    if kind == "image":
        return text.upper()
    if text.isdigit():
        return str(int(text))
    value = words.get(text.casefold())
    return str(value) if value is not None else text
