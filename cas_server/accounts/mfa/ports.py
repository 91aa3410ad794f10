"""What the second factor needs from storage (``storage/sql/mfa.py`` implements it).

The operations that make a secret single use are atomic in the store: one
conditional UPDATE each, so two requests racing with the same TOTP step,
the same recovery code or the same WebAuthn counter get one success.
"""

from __future__ import annotations

from typing import Protocol

from .model import Factor, FactorKind, TrustedDevice


class MfaStore(Protocol):
    def factors(self, account_uuid: str) -> list[Factor]:
        """The account's factors, oldest first."""
        ...

    def factor(self, account_uuid: str, factor_id: str) -> Factor | None: ...

    def add_factor(self, factor: Factor) -> None:
        """Raises :class:`~.model.FactorExists` for a WebAuthn credential already stored."""
        ...

    def rename_factor(self, account_uuid: str, factor_id: str, label: str) -> bool: ...

    def remove_factor(self, account_uuid: str, factor_id: str) -> bool: ...

    def remove_all(self, account_uuid: str, now: float | None = None) -> int:
        """Every factor and recovery code of the account, its trusted devices revoked and
        its grace count restarted, in one transaction; returns how many factors went."""
        ...

    def use_totp_step(self, factor_id: str, step: int, now: float) -> bool:
        """Record ``step`` as used, only if it is later than the last one (atomic)."""
        ...

    def by_credential_id(self, credential_id: bytes) -> Factor | None: ...

    def use_webauthn(self, factor_id: str, old_count: int, new_count: int, now: float) -> bool:
        """Move the sign counter from ``old_count`` to ``new_count`` (atomic: False if it
        was no longer ``old_count``)."""
        ...

    def replace_recovery_codes(self, account_uuid: str, hashes: list[str], now: float) -> None:
        """The new set replaces the old one, in one transaction."""
        ...

    def use_recovery_code(self, account_uuid: str, code_hash: str, now: float) -> bool:
        """Use an unused code once (atomic)."""
        ...

    def recovery_codes_left(self, account_uuid: str) -> int: ...

    def add_trusted_device(self, device: TrustedDevice, token_hash: str) -> None: ...

    def trusted_device(
        self, account_uuid: str, token_hash: str, now: float
    ) -> TrustedDevice | None:
        """The device if alive and not revoked; its ``last_used_at`` becomes ``now``."""
        ...

    def trusted_devices(self, account_uuid: str, now: float) -> list[TrustedDevice]:
        """The account's live devices, most recently used first."""
        ...

    def revoke_trusted_device(
        self, account_uuid: str, device_id: str, now: float | None = None
    ) -> bool: ...

    def revoke_trusted_devices(self, account_uuid: str, now: float | None = None) -> int: ...

    def grace_used(self, account_uuid: str) -> int:
        """Sign-ins let through without a second factor so far."""
        ...

    def use_grace(self, account_uuid: str) -> int:
        """One more such sign-in (atomic increment); returns the new count."""
        ...

    def verified_channel(self, account_uuid: str, kind: FactorKind) -> str | None:
        """The personal e-mail (EMAIL) or mobile (SMS), only if it is verified."""
        ...

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        """(factor id, sealed secret) of every factor that has one (``mfa reseal``)."""
        ...

    def replace_secret(self, factor_id: str, old: bytes, new: bytes) -> bool:
        """Replace a sealed secret, only if it is still ``old``."""
        ...
