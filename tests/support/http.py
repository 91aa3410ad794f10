"""A user agent over real HTTP, for the suites that talk to gunicorn."""

from __future__ import annotations

import requests


def new_session() -> requests.Session:
    """A cookie jar that ignores the machine's proxy settings (servers are on 127.0.0.1)."""
    session = requests.Session()
    session.trust_env = False
    return session
