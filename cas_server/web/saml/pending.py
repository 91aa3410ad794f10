"""A SAML request waiting for the CAS sign-in, carried by the resume URL.

The browser goes to ``/login?service=<public_url>/idp/resume?key=…``; the
key is the parsed request (:class:`AuthnRequestInfo`) signed with the
server's secret (itsdangerous, a purpose of its own, timestamped), so every
node can read it and nobody can forge or alter it. It is not kept in the
Flask session: the sign-in starts a new one (no session fixation).

A key is single use: resuming counts it in the shared counters (SQL or
Redis, atomic), and a second resume of the same key is refused. The same
signed form, under other purposes, carries the consent page's state and
the answer to an SP's logout request kept while the logout frames load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ...protocol.saml2.requests import AuthnRequestInfo
from ...runtime.container import container

PENDING_LIFETIME = 1800.0  # the sign-in, a second factor, a charter: well within this
PURPOSE_PENDING = "cas-saml-pending"
PURPOSE_CONSENT = "cas-saml-consent"
PURPOSE_LOGOUT = "cas-saml-logout"
SERVICE_PATH = "/idp/resume"
MFA_SERVICE_PATH = "/idp/resume/mfa"
T = TypeVar("T")


class PendingExpired(Exception):
    """A key that is not ours, too old, or already used."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def seal(purpose: str, data: dict[str, Any]) -> str:
    """``data`` (JSON) signed for ``purpose``, with a fresh nonce (single use)."""
    return str(_serializer(purpose).dumps({**data, "n": secrets.token_urlsafe(16)}))


def unseal(purpose: str, key: str | None, max_age: float = PENDING_LIFETIME) -> dict[str, Any]:
    """The data of a key sealed for ``purpose``; :class:`PendingExpired` otherwise."""
    if not key or len(key) > 8192:
        raise PendingExpired("missing or oversize key")
    try:
        data = _serializer(purpose).loads(key, max_age=int(max_age))
    except (BadSignature, ValueError, TypeError) as exc:
        raise PendingExpired(exc.__class__.__name__) from exc
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise PendingExpired("not a key")
    return data


def use_once(data: dict[str, Any], purpose: str) -> None:
    """Count the key's nonce: a second use is :class:`PendingExpired`."""
    c = container()
    nonce = hashlib.sha256(f"{purpose}:{data['n']}".encode()).hexdigest()
    if c.counters.hit("saml-key:" + nonce, c.clock.now(), PENDING_LIFETIME) > 1:
        raise PendingExpired("used")


def request_data(info: Any) -> dict[str, Any]:
    return dataclasses.asdict(info)


def request_from(data: Any) -> AuthnRequestInfo:
    """The request a key carries (its own JSON), or :class:`PendingExpired`."""
    if not isinstance(data, dict):
        raise PendingExpired("no request")
    try:
        values = dict(data)
        values["requested_contexts"] = tuple(values.get("requested_contexts") or ())
        return AuthnRequestInfo(**values)
    except TypeError as exc:
        raise PendingExpired("bad request") from exc


def rebuild(cls: type[T], data: Any) -> T:
    """A frozen dataclass from its JSON form (lists back to tuples)."""
    if not isinstance(data, dict):
        raise PendingExpired("no data")
    try:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)
    except TypeError as exc:
        raise PendingExpired("bad data") from exc


def resume_url(key: str | None, *, mfa: bool) -> str:
    """The CAS service URL the sign-in comes back to (a built-in registered service)."""
    base = container().settings.public_url + (MFA_SERVICE_PATH if mfa else SERVICE_PATH)
    return f"{base}?{urlencode({'key': key})}" if key else base


def login_url(service: str, *, renew: bool = False, gateway: bool = False) -> str:
    url = url_for("cas.login") + "?service=" + quote(service, safe="")
    if renew:
        url += "&renew=true"
    if gateway:
        url += "&gateway=true"
    return url
