"""What the Security pages keep between two requests, server-side and for one person.

Three things wait between a page and its form, or between a form and the page
after it: the TOTP secret being enrolled, the WebAuthn registration challenge,
and fresh recovery codes until they are shown. Each is a row of Sésame's
one-time token store (purpose ``mfa_code``, marked with its ``use``), found by
the SHA-256 of a handle that only this browser's session holds; the row names
the account, so a handle carried into another person's session opens nothing.
Secrets in it (the TOTP seed, the codes) are sealed with the ``[mfa]`` keys,
as the factors' seeds are. Taking a row uses it up (one atomic UPDATE): a
challenge or a page of codes serves once, even if an old session cookie is
sent again. A password change or a reset cancels them with every other token.
"""

from __future__ import annotations

import json
from typing import Any

from flask import session

from ...accounts.mfa.sealing import SealingError
from ...accounts.model import Account
from ...accounts.tokens import Purpose, looks_like_secret, new_secret
from ...runtime.container import container
from ...runtime.sesame import now, sesame

SESSION_KEY = "profile_mfa"
PURPOSE = Purpose.MFA_CODE
# How long each waits: the app to be scanned and a code typed, the browser's
# prompt (three minutes) and a PIN, the codes page to be opened.
TTL = {"totp": 900.0, "webauthn": 600.0, "codes": 300.0}


def _handles() -> dict[str, str]:
    value = session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}


def _handle(use: str) -> str | None:
    handle = _handles().get(use)
    return handle if isinstance(handle, str) and looks_like_secret(handle) else None


def _remember(use: str, handle: str | None) -> None:
    handles = _handles()
    if handle is None:
        handles.pop(use, None)
    else:
        handles[use] = handle
    session[SESSION_KEY] = handles


def _mine(who: Account, use: str, record: Any) -> dict[str, Any] | None:
    if record is None or record.account_uuid != who.uuid or record.data.get("use") != use:
        return None
    data: dict[str, Any] = record.data
    return data


def stash(who: Account, use: str, ttl: float | None = None, **data: Any) -> None:
    """Keep ``data`` for ``who`` in this browser, in place of what was kept for ``use``."""
    drop(use)
    handle = new_secret()
    sesame().tokens.issue(
        who.uuid,
        PURPOSE,
        handle,
        now=now(),
        ttl=TTL[use] if ttl is None else max(1.0, ttl),
        data={**data, "use": use},
    )
    _remember(use, handle)


def peek(who: Account, use: str) -> dict[str, Any] | None:
    """What is kept for ``use``, if it is ``who``'s and still alive; not used up."""
    handle = _handle(use)
    if handle is None:
        return None
    return _mine(who, use, sesame().tokens.peek(handle, PURPOSE, now()))


def take(who: Account, use: str) -> tuple[dict[str, Any], float] | None:
    """Use up what is kept for ``use``: (its data, seconds it had left), once only."""
    handle = _handle(use)
    _remember(use, None)
    if handle is None:
        return None
    ts = now()
    record = sesame().tokens.consume(handle, PURPOSE, ts)
    data = _mine(who, use, record)
    if data is None or record is None:
        return None
    return data, record.expires_at - ts


def drop(use: str) -> None:
    """Forget (and use up) what this browser kept for ``use``."""
    handle = _handle(use)
    _remember(use, None)
    if handle is not None:
        sesame().tokens.consume(handle, PURPOSE, now())


def seal(value: Any) -> str:
    """``value`` (JSON) sealed with the ``[mfa]`` keys, as text for the token's data."""
    plain = json.dumps(value).encode("utf-8")
    return container().mfa.sealer.seal(plain).decode("ascii")


def unseal(sealed: Any) -> Any | None:
    if not isinstance(sealed, str):
        return None
    try:
        return json.loads(container().mfa.sealer.open(sealed.encode("ascii")))
    except (SealingError, UnicodeError, ValueError):
        return None
