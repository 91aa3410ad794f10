"""The Flask application class, trimmed of per-request work that never changes.

Every service validates tickets all day, so the fixed cost Flask adds to
each request counts. Two pieces of it are recomputed on every request
although their answer cannot change while the process runs; they are
computed once here. Nothing else of Flask's behaviour differs.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutinefunction
from types import FunctionType
from typing import Any

from flask import Flask, Response
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CasFlask(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.session_interface = SessionInterface()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks inspect whether each hook and view is a coroutine function
        # on every request (eight times per request here). Plain functions are
        # remembered; bound methods are new objects each time and are not.
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        known = self._sync.get(func)
        if known is None:
            known = self._sync[func] = (
                self.async_to_sync(func) if iscoroutinefunction(func) else func
            )
        return known


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, with its serializer built once per key set.

    Flask builds a new serializer (and key derivation) for each request,
    even one without a session cookie.
    """

    _cached: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = self._cached = (keys, super().get_signing_serializer(app))
        return cached[1]

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Most requests (every ticket validation) have no session at all: the
        # seven cookie settings Flask reads before deciding so are not needed.
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
