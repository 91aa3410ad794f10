"""A sign-in waiting between the right password and the service (charter, forced change).

The browser's (signed) session holds only a handle, a 256-bit secret; the
sign-in itself is a one-time token (``Purpose.PENDING_LOGIN``) of the
account, in the database, found by the handle's SHA-256. So:

- it is single use: a request that acts on it (a form posted, the end of
  the sign-in) first takes it with one conditional UPDATE, and only the
  first request gets it; a copy of the cookie replayed later finds it used.
  A step that shows its page again puts it back under a new handle;
- every node sees it (the database, never process memory);
- writing a password for the account cancels it with the account's other
  tokens (T6), and so does every console or command-line action that ends
  the account's sessions (``Actions._end_sessions``: end all sessions, lock,
  temporary password); ``cas-server purge`` forgets it;
- every step checks the account again (:func:`still_valid`): still active,
  and the password that was verified still the one on file.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from flask import after_this_request, g, make_response, session
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.model import Account, Status
from ...accounts.tokens import Purpose, looks_like_secret, new_secret
from ...runtime.container import container
from ...storage.sql.tokens import SqlTokenStore
from ..security import error_page

PENDING_KEY = "pending_login"
PENDING_LIFETIME = 600  # seconds to read the charter or choose a password
IN_HAND = "pending_login_in_hand"
HOOKED = "pending_login_hooked"


def password_epoch(account: Account) -> str:
    """Which password is on file: changes whenever one is written."""
    changed = account.password_changed_at.isoformat() if account.password_changed_at else "-"
    stored = account.password_hash or ""
    return changed + ":" + hashlib.sha256(stored.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PendingLogin:
    uuid: str
    service: str | None
    method: str | None
    warn: bool
    public: bool
    remember: bool
    started: float  # when the password was verified
    epoch: str = ""  # password_epoch() of the account at that moment
    # The second factor (web/cas/second_factor.py): the method satisfied in this
    # sign-in; a sign-in of the enrolment's grace ("later"); for a step-up, the
    # SSO session it belongs to, as the TGT's digest (the id itself stays in the
    # TGC, which must match); the WebAuthn challenge of the options shown
    # (base64url); the TOTP secret being enrolled, sealed (base64url).
    second_factor: str | None = None
    mfa_later: bool = False
    sso: str | None = None
    challenge: str | None = None
    enrol_secret: str | None = None
    handle: str | None = field(default=None, compare=False)  # set while stored

    @classmethod
    def begin(
        cls,
        account: Account,
        *,
        service: str | None,
        method: str | None,
        warn: bool,
        public: bool,
        remember: bool,
        started: float,
    ) -> PendingLogin:
        """The sign-in of ``account``, whose password was verified in this request."""
        return cls(
            account.uuid,
            service,
            method,
            warn,
            public,
            remember,
            started,
            epoch=password_epoch(account),
        )

    def data(self) -> dict[str, Any]:
        stored = asdict(self)
        del stored["uuid"], stored["handle"]
        return stored


def _tokens() -> SqlTokenStore:
    return SqlTokenStore(container().engine)


def _from_row(account_uuid: str, data: dict[str, Any]) -> PendingLogin | None:
    try:
        return PendingLogin(uuid=account_uuid, **data)
    except TypeError:
        return None


def store(pending: PendingLogin) -> PendingLogin | None:
    """Keep ``pending`` for its next step under a new handle; None once too old."""
    now = time.time()
    left = pending.started + PENDING_LIFETIME - now
    if left <= 0:
        return None
    handle = new_secret()
    _tokens().issue(
        pending.uuid, Purpose.PENDING_LOGIN, handle, now=now, ttl=left, data=pending.data()
    )
    session[PENDING_KEY] = handle
    release()
    return replace(pending, handle=handle)


def _handle() -> str | None:
    handle = session.get(PENDING_KEY)
    return handle if isinstance(handle, str) and looks_like_secret(handle) else None


def peek() -> PendingLogin | None:
    """The sign-in this browser is in the middle of, left where it is."""
    handle = _handle()
    record = _tokens().peek(handle, Purpose.PENDING_LOGIN, time.time()) if handle else None
    if record is None:
        return None
    pending = _from_row(record.account_uuid, record.data)
    return replace(pending, handle=handle) if pending else None


def take(pending: PendingLogin | None = None) -> PendingLogin | None:
    """Take the stored sign-in for this request (``pending``'s, or this browser's):
    only one request ever gets it. Until this request stores it again or
    finishes it, it is held here; a page shown meanwhile puts it back."""
    handle = pending.handle if pending is not None else _handle()
    session.pop(PENDING_KEY, None)
    record = _tokens().consume(handle, Purpose.PENDING_LOGIN, time.time()) if handle else None
    taken = _from_row(record.account_uuid, record.data) if record is not None else None
    if taken is not None:
        if not g.get(HOOKED):
            after_this_request(_put_back)
            setattr(g, HOOKED, True)
        setattr(g, IN_HAND, taken)
    return taken


def release() -> None:
    """The sign-in held by this request is finished or stored: nothing to put back."""
    g.pop(IN_HAND, None)


def forget() -> None:
    release()
    session.pop(PENDING_KEY, None)


def _put_back(response: Response) -> Response:
    pending = g.pop(IN_HAND, None)
    if pending is not None:
        store(pending)
    return response


def still_valid(pending: PendingLogin, account: Account) -> bool:
    """The account may still finish this sign-in."""
    if account.uuid != pending.uuid or account.status is not Status.ACTIVE:
        return False
    return password_epoch(account) == pending.epoch


def expired() -> Response:
    """The page of a step that can no longer go on (used, replayed, too old, cancelled)."""
    forget()
    return make_response(
        *error_page(
            400,
            _("Sign-in expired"),
            _("This step of your sign-in has expired. Please sign in again."),
        )
    )
