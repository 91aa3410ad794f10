"""What the second factor is made of: factors, trusted devices, refusals."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from ..i18n import N_


class FactorKind(StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"
    EMAIL = "email"  # a code mailed to the verified personal address
    SMS = "sms"  # a code texted to the verified mobile


MAX_LABEL = 64  # a factor's name

#: The names the protocol and the audit trail use for what was satisfied.
METHOD_RECOVERY_CODE = "recovery_code"
METHOD_TRUSTED_DEVICE = "trusted_device"


@dataclass(frozen=True)
class Factor:
    """One enrolled factor. Secrets stay sealed here: ``secret`` is the TOTP seed as
    :class:`~.sealing.Sealer` sealed it, never the seed itself."""

    id: str
    account_uuid: str
    kind: FactorKind
    label: str
    created_at: float
    last_used_at: float | None = None
    secret: bytes | None = None  # TOTP: the sealed base32 seed
    credential_id: bytes | None = None  # WebAuthn
    public_key: bytes | None = None  # WebAuthn: the COSE public key
    sign_count: int = 0  # WebAuthn: the authenticator's counter, last seen
    transports: tuple[str, ...] = ()  # WebAuthn: usb, nfc, ble, internal, hybrid
    last_step: int = 0  # TOTP: the last time step accepted (a code is accepted once)


@dataclass(frozen=True)
class TrustedDevice:
    """A browser whose "trust this device" cookie stands for the second factor."""

    id: str
    account_uuid: str
    label: str
    created_at: float
    expires_at: float
    last_used_at: float | None = None


class MfaRefused(Exception):
    """Not done; ``message`` % ``params`` says why (a msgid, translated where shown).

    ``reason`` is for the audit trail: ``refused`` (the default), ``replay``,
    ``counter`` (a WebAuthn sign counter that went backwards).
    """

    reason = "refused"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class CounterRegressed(MfaRefused):
    """A security key's sign counter did not move forward: perhaps a cloned key.
    The caller audits ``mfa_webauthn_counter``."""

    reason = "counter"

    def __init__(self) -> None:
        super().__init__(
            N_(
                "This security key could not be trusted (its counter went backwards). "
                "Use another method and tell the help desk."
            )
        )


class FactorExists(MfaRefused):
    """The security key is already registered (on this account or another)."""

    def __init__(self) -> None:
        super().__init__(N_("This security key is already registered."))


class Replayed(MfaRefused):
    """A one-time proof already used (a TOTP step, a security key's answer)."""

    reason = "replay"


@dataclass(frozen=True)
class TotpCheck:
    """The verdict on a TOTP code: ``success`` (with the factor), ``failure`` or ``replay``."""

    outcome: str
    factor: Factor | None = None


def clean_label(label: str) -> str:
    """A factor's name as the person gave it: no control characters, spaces folded."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in label)
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if not text:
        raise MfaRefused(N_("Give it a name, such as the device it is on."))
    if len(text) > MAX_LABEL:
        raise MfaRefused(N_("The name is too long (at most %(max)s characters)."), max=MAX_LABEL)
    return text
