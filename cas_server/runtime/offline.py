"""A request context for work outside a request: the command line's links, themes and mails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, g


@contextmanager
def offline_request(app: Flask) -> Iterator[None]:
    """A request context for work outside a request (the CLI): links, themes, mail templates."""
    public_url = app.extensions["cas"].settings.public_url
    with app.test_request_context("/", base_url=public_url):
        g.themes = app.extensions["cas"].themes
        yield
