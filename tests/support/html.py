"""Reading the server's pages: the CSRF token of a form, the text of a page."""

from __future__ import annotations

import re
from html import unescape

from werkzeug.test import TestResponse

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    """The form's CSRF token (the test fails if the page has none)."""
    match = CSRF_RE.search(html)
    assert match, html[:500]
    return match.group(1)


def without_csrf(html: str) -> str:
    """The page with its per-session CSRF token blanked, to compare two pages."""
    return CSRF_RE.sub('name="csrf_token" value=""', html)


def text(response: TestResponse) -> str:
    """The page's text without tags, whitespace collapsed (for assertions)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
