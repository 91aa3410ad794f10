"""What the two TOTP enrolment pages show (at sign-in and on the profile): the QR code of the
provisioning URI, drawn here by ``segno`` (no third party ever sees the secret), and the
secret as text in groups of four, the accessible alternative."""

from __future__ import annotations

import segno
from markupsafe import Markup, escape


def qr_code(uri: str, label: str, css_class: str) -> Markup:
    """The QR code of ``uri`` as inline SVG, named for screen readers by ``label``.

    segno's SVG holds nothing but shapes built from ``uri``'s bits (no text, no
    script); the one piece of text added, the label, is escaped.
    """
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass=css_class, lineclass=None
    )
    name = escape(label)
    attributes = f'<svg role="img" aria-label="{name}" focusable="false" '
    return Markup(svg.replace("<svg ", attributes, 1))  # nosec B704  # noqa: S704


def grouped(secret: str) -> str:
    """``JBSWY3DPEHPK3PXP`` as ``JBSW Y3DP EHPK 3PXP``: easier to read and type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
