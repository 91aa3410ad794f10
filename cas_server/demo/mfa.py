"""Demo data for the second factor (``cas-server demo``, issue #14): the demo ``admin``
enrolled with an authenticator app whose secret is fixed and published (README, "Try the
second factor"), so that anyone can compute its codes. Never for a deployment."""

from __future__ import annotations

from collections.abc import Iterator

from ..accounts.mfa.model import FactorKind, MfaRefused
from ..accounts.mfa.sealing import SealingError
from ..runtime.container import Container

DEMO_ADMIN = "admin"
#: Base32, 160 bits, published: add it to an authenticator app, or
#: python -c "import pyotp; print(pyotp.TOTP('DEMOADMIN2SECONDFACTOR7UNIVDEMO2').now())"
DEMO_TOTP_SECRET = "DEMOADMIN2SECONDFACTOR7UNIVDEMO2"  # noqa: S105 - published, demo only
DEMO_TOTP_LABEL = "Application de démonstration"


def _has_demo_secret(c: Container, account_uuid: str) -> bool:
    for factor in c.mfa.store.factors(account_uuid):
        if factor.kind is not FactorKind.TOTP or factor.secret is None:
            continue
        try:
            if c.mfa.sealer.open(factor.secret).decode("ascii") == DEMO_TOTP_SECRET:
                return True
        except (SealingError, UnicodeDecodeError):
            continue
    return False


def load_mfa_demo(c: Container) -> Iterator[str]:
    admin = c.accounts.find_by_login(DEMO_ADMIN)
    if admin is None:
        return
    hint = (
        f'TOTP secret {DEMO_TOTP_SECRET} (a code: python -c "import pyotp; '
        f"print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())\")"
    )
    if _has_demo_secret(c, admin.uuid):
        yield f"{DEMO_ADMIN}: second factor already there, {hint}"
        return
    try:
        c.mfa.import_totp(admin, DEMO_TOTP_LABEL, DEMO_TOTP_SECRET)
    except MfaRefused as exc:  # [mfa] enabled = false
        yield f"{DEMO_ADMIN}: no second factor ({exc})"
        return
    yield f"{DEMO_ADMIN}: second factor added, {hint}"
