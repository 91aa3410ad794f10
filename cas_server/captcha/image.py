"""The image: an SVG of strokes, with no text in it, drawn from a small stroke font.

What defeats the cheap ways of reading it from the SVG source:

* each character is bent by its own smooth non-linear warp (not only an
  affine map), then the whole image by a wave;
* every stroke is cut into short runs of a few pixels, each coloured from a
  small palette: colours change along a stroke, every colour is used by
  every character and by the noise, so grouping by colour gives no letter;
* the runs are shuffled into a few ``<path>`` elements per colour, each
  mixing pieces of several characters and of the noise, so grouping by
  element gives no letter either;
* noise curves and decoy pieces of glyphs are drawn with the same widths and
  colours, crossing the characters.

A person reads it as dark letters over a few crossing lines. A program that
rasterises it and recognises shapes is not stopped: no image CAPTCHA stops
that today, which is why the per-address and per-account limits are the bar.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Final

ALPHABET: Final = "ACDEFHJKLMNPRTUVWXY2347"
WIDTH: Final = 240
HEIGHT: Final = 96
NOISE: Final = -1  # owner of a run that belongs to no character
DECOY: Final = -2  # owner of a run of a decoy piece of glyph

Point = tuple[float, float]
Stroke = list[Point]

_P = [(0, 1), (0, 0), (0.75, 0), (1, 0.2), (1, 0.38), (0.75, 0.55), (0, 0.55)]
GLYPHS: Final[dict[str, list[Stroke]]] = {
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

# Dark enough for a contrast of at least 4.5:1 on the light background.
_INKS: Final = (
    (20, 40, 110),
    (120, 20, 40),
    (20, 90, 50),
    (80, 30, 110),
    (30, 30, 30),
    (0, 80, 110),
    (110, 60, 0),
    (60, 60, 90),
)
_BACKGROUND: Final = "#f4f6f9"


@dataclass(frozen=True)
class Run:
    """A few pixels of one stroke, in one colour, inside one ``<path>``: for the tests."""

    owner: int  # the character's index, or NOISE, or DECOY
    colour: str
    element: int
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Drawing:
    svg: str
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class _Warp:
    """A character's own bend: two sine waves and a curve, in the unit box."""

    ax: float
    fx: float
    px: float
    ay: float
    fy: float
    py: float
    bend: float

    @classmethod
    def draw(cls, rng: random.Random) -> _Warp:
        return cls(
            rng.uniform(0.03, 0.07),
            rng.uniform(0.5, 1.2),
            rng.uniform(0, 2 * math.pi),
            rng.uniform(0.03, 0.07),
            rng.uniform(0.5, 1.2),
            rng.uniform(0, 2 * math.pi),
            rng.uniform(-0.3, 0.3),
        )

    def __call__(self, u: float, v: float) -> Point:
        du = self.ax * math.sin(2 * math.pi * self.fx * v + self.px)
        du += self.bend * ((v - 0.5) ** 2 - 0.25 / 3)
        dv = self.ay * math.sin(2 * math.pi * self.fy * u + self.py)
        return u + du, v + dv


@dataclass(frozen=True)
class _Place:
    x: float
    y: float
    size: float
    cos: float
    sin: float
    shear: float

    @classmethod
    def draw(cls, rng: random.Random, x: float, y: float, size: float) -> _Place:
        angle = math.radians(rng.uniform(-14, 14))
        return cls(x, y, size, math.cos(angle), math.sin(angle), rng.uniform(-0.2, 0.2))

    def __call__(self, u: float, v: float) -> Point:
        x = (u - 0.5) * self.size * 0.64 + (v - 0.5) * self.size * self.shear
        y = (v - 0.5) * self.size
        return self.x + x * self.cos - y * self.sin, self.y + x * self.sin + y * self.cos


def _densify(points: Stroke, step: float) -> Stroke:
    """The stroke with a point every ``step`` at most, so that a warp bends its lines."""
    out = [points[0]]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        count = max(1, math.ceil(math.hypot(x2 - x1, y2 - y1) / step))
        out.extend(
            (x1 + (x2 - x1) * i / count, y1 + (y2 - y1) * i / count) for i in range(1, count + 1)
        )
    return out


def _bezier(p: list[Point], step: float) -> Stroke:
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(p))
    count = max(4, math.ceil(length / step))
    out = []
    for i in range(count + 1):
        t = i / count
        a, b, c = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2
        d = t**3
        out.append(
            (
                a * p[0][0] + b * p[1][0] + c * p[2][0] + d * p[3][0],
                a * p[0][1] + b * p[1][1] + c * p[2][1] + d * p[3][1],
            )
        )
    return out


def _cut(points: Stroke, rng: random.Random) -> list[Stroke]:
    """Runs of 3 to 5 points (about 5 to 10 pixels); each shares its ends with its neighbours."""
    runs, start = [], 0
    while start < len(points) - 1:
        end = min(len(points) - 1, start + rng.randint(2, 4))
        if len(points) - 1 - end == 1:  # no lonely last segment
            end += 1
        runs.append(points[start : end + 1])
        start = end
    return runs


def _colour(rng: random.Random) -> str:
    r, g, b = rng.choice(_INKS)
    shift = rng.randint(-12, 12)
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, c + shift)) for c in (r, g, b)))


def render(text: str, rng: random.Random) -> Drawing:
    """The SVG of ``text``, and which run belongs to which character (for the tests)."""
    palette: list[str] = []  # fewer colours than characters: none can stand for one
    while len(palette) < min(4, max(2, len(text) - 1)):
        colour = _colour(rng)
        if colour not in palette:
            palette.append(colour)
    wave_a, wave_l, wave_p = rng.uniform(2, 4), rng.uniform(120, 220), rng.uniform(0, 2 * math.pi)

    def wave(point: Point) -> Point:
        x, y = point
        return x + rng.uniform(-0.4, 0.4), y + wave_a * math.sin(2 * math.pi * x / wave_l + wave_p)

    strokes: list[tuple[int, Stroke]] = []  # (owner, points in pixels)
    step = (WIDTH - 36) / max(len(text), 1)
    for index, char in enumerate(text):
        size = rng.uniform(40, 46)
        place = _Place.draw(
            rng,
            18 + step * (index + 0.5) + rng.uniform(-3, 3),
            HEIGHT / 2 + rng.uniform(-7, 7),
            size,
        )
        warp = _Warp.draw(rng)
        for stroke in GLYPHS[char]:
            strokes.append((index, [wave(place(*warp(u, v))) for u, v in _densify(stroke, 0.06)]))
    # Noise in the glyphs' colours and width. Long smooth curves are easy for
    # a person to follow through the letters; a program has to trace them.
    for high in rng.sample((True, False), 2):  # long curves across the text, off the middle
        # (where the bars of A, E, F, H are), one higher and one lower
        centre = HEIGHT * (0.36 if high else 0.64)
        y0, y1 = centre + rng.uniform(-6, 6), centre + rng.uniform(-6, 6)
        p = [(rng.uniform(-10, 10), y0)]
        p += [(WIDTH * t, (y0 + y1) / 2 + rng.uniform(-12, 12)) for t in (0.33, 0.66)]
        p.append((rng.uniform(WIDTH - 10, WIDTH + 10), y1))
        strokes.append((NOISE, [wave(q) for q in _bezier(p, 2.5)]))
    for _ in range(2):  # short arcs over the characters
        x, y = rng.uniform(30, WIDTH - 30), rng.uniform(HEIGHT * 0.3, HEIGHT * 0.7)
        dx, dy, bow = rng.uniform(-20, 20), rng.uniform(-12, 12), rng.uniform(-10, 10)
        p = [
            (x - dx, y - dy),
            (x - dx / 3 + bow, y - dy / 3 - bow),
            (x + dx / 3 + bow, y + dy / 3 - bow),
            (x + dx, y + dy),
        ]
        strokes.append((NOISE, [wave(q) for q in _bezier(p, 2.5)]))
    for _ in range(rng.randint(2, 3)):  # decoys: part of a glyph's stroke, in a gap
        stroke = _densify(rng.choice(GLYPHS[rng.choice(ALPHABET)]), 0.06)
        keep = max(4, int(len(stroke) * rng.uniform(0.3, 0.45)))
        first = rng.randrange(len(stroke) - keep + 1)
        gap = 18 + step * rng.randint(0, max(len(text), 1)) + rng.uniform(-3, 3)
        y = HEIGHT / 2 + rng.choice((-1, 1)) * rng.uniform(27, 33)  # above or below the text
        place = _Place.draw(rng, gap, y, rng.uniform(16, 22))
        warp = _Warp.draw(rng)
        pts = stroke[first : first + keep]
        strokes.append((DECOY, [wave(place(*warp(u, v))) for u, v in pts]))
    return _assemble(strokes, palette, rng)


def _assemble(strokes: list[tuple[int, Stroke]], palette: list[str], rng: random.Random) -> Drawing:
    pieces: list[tuple[int, Stroke]] = [(o, run) for o, pts in strokes for run in _cut(pts, rng)]
    colours = [rng.choice(palette) for _ in pieces]
    # Every character, and the noise, uses every colour: no colour tells one apart.
    groups: dict[int, list[int]] = {}
    for i, (owner, _) in enumerate(pieces):
        groups.setdefault(NOISE if owner == DECOY else owner, []).append(i)
    for members in groups.values():
        for colour in palette:
            if colour not in (colours[i] for i in members):
                spare = [i for i in members if sum(colours[j] == colours[i] for j in members) > 1]
                if spare:
                    colours[rng.choice(spare)] = colour
    # Each colour's runs go to two <path> elements, dealt in turn after sorting
    # by owner: each element gets pieces of several characters and of the noise.
    elements: list[list[int]] = []
    for colour in palette:
        mine = sorted((i for i, c in enumerate(colours) if c == colour), key=lambda i: pieces[i][0])
        elements.extend([mine[0::2], mine[1::2]])
    rng.shuffle(elements)
    width = rng.uniform(2.9, 3.4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="{_BACKGROUND}"/>',
    ]
    runs: list[Run] = []
    for number, members in enumerate(elements):
        rng.shuffle(members)
        data = []
        for i in members:
            owner, pts = pieces[i]
            if rng.random() < 0.5:
                pts = pts[::-1]
            runs.append(Run(owner, colours[i], number, tuple(pts)))
            data.append("M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in pts))
        if members:
            parts.append(
                f'<path d="{"".join(data)}" fill="none" stroke="{colours[members[0]]}" '
                f'stroke-width="{width * rng.uniform(0.92, 1.08):.2f}" '
                'stroke-linecap="round" stroke-linejoin="round"/>'
            )
    for _ in range(35):
        parts.append(
            f'<circle cx="{rng.uniform(0, WIDTH):.1f}" cy="{rng.uniform(0, HEIGHT):.1f}" '
            f'r="{rng.uniform(0.6, 1.5):.1f}" fill="{rng.choice(palette)}"/>'
        )
    parts.append("</svg>")
    return Drawing("".join(parts), tuple(runs))


def draw(text: str, rng: random.Random) -> str:
    """The SVG of ``text``: paths only, no <text> for a script to read."""
    return render(text, rng).svg
