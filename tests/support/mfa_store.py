"""An in-memory ``MfaStore`` for the account core's unit tests.

The store contract test (tests/storage/test_mfa_store_contract.py) runs it
beside SQLite and PostgreSQL, so it keeps the same promises.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from cas_server.accounts.mfa.model import Factor, FactorExists, FactorKind, TrustedDevice


@dataclass
class _Code:
    account_uuid: str
    code_hash: str
    used_at: float | None = None


@dataclass
class _Device:
    device: TrustedDevice
    token_hash: str
    revoked_at: float | None = None


class MemoryMfaStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, Factor] = {}
        self.codes: list[_Code] = []
        self.devices: dict[str, _Device] = {}
        self.grace: dict[str, int] = {}
        # account uuid -> {FactorKind.EMAIL: address, FactorKind.SMS: number}, verified only
        self.channels: dict[str, dict[FactorKind, str]] = {}

    def factors(self, account_uuid: str) -> list[Factor]:
        found = [f for f in self.rows.values() if f.account_uuid == account_uuid]
        return sorted(found, key=lambda f: (f.created_at, f.id))

    def factor(self, account_uuid: str, factor_id: str) -> Factor | None:
        found = self.rows.get(factor_id)
        return found if found is not None and found.account_uuid == account_uuid else None

    def add_factor(self, factor: Factor) -> None:
        with self.lock:
            if factor.credential_id is not None and self.by_credential_id(factor.credential_id):
                raise FactorExists
            if factor.id in self.rows:
                raise ValueError("duplicate id")
            self.rows[factor.id] = factor

    def rename_factor(self, account_uuid: str, factor_id: str, label: str) -> bool:
        with self.lock:
            if self.factor(account_uuid, factor_id) is None:
                return False
            self.rows[factor_id] = replace(self.rows[factor_id], label=label)
            return True

    def remove_factor(self, account_uuid: str, factor_id: str) -> bool:
        with self.lock:
            if self.factor(account_uuid, factor_id) is None:
                return False
            del self.rows[factor_id]
            return True

    def remove_all(self, account_uuid: str, now: float | None = None) -> int:
        with self.lock:
            gone = [i for i, f in self.rows.items() if f.account_uuid == account_uuid]
            for factor_id in gone:
                del self.rows[factor_id]
            self.codes = [c for c in self.codes if c.account_uuid != account_uuid]
            for held in self.devices.values():
                if held.device.account_uuid == account_uuid and held.revoked_at is None:
                    held.revoked_at = time.time() if now is None else now
            self.grace.pop(account_uuid, None)
            return len(gone)

    def use_totp_step(self, factor_id: str, step: int, now: float) -> bool:
        with self.lock:
            factor = self.rows.get(factor_id)
            if factor is None or factor.kind is not FactorKind.TOTP or factor.last_step >= step:
                return False
            self.rows[factor_id] = replace(factor, last_step=step, last_used_at=now)
            return True

    def by_credential_id(self, credential_id: bytes) -> Factor | None:
        return next((f for f in self.rows.values() if f.credential_id == credential_id), None)

    def use_webauthn(self, factor_id: str, old_count: int, new_count: int, now: float) -> bool:
        with self.lock:
            factor = self.rows.get(factor_id)
            if factor is None or factor.sign_count != old_count:
                return False
            self.rows[factor_id] = replace(factor, sign_count=new_count, last_used_at=now)
            return True

    def replace_recovery_codes(self, account_uuid: str, hashes: list[str], now: float) -> None:
        with self.lock:
            self.codes = [c for c in self.codes if c.account_uuid != account_uuid]
            self.codes.extend(_Code(account_uuid, h) for h in hashes)

    def use_recovery_code(self, account_uuid: str, code_hash: str, now: float) -> bool:
        with self.lock:
            for code in self.codes:
                if (
                    code.account_uuid == account_uuid
                    and code.code_hash == code_hash
                    and code.used_at is None
                ):
                    code.used_at = now
                    return True
            return False

    def recovery_codes_left(self, account_uuid: str) -> int:
        return sum(1 for c in self.codes if c.account_uuid == account_uuid and c.used_at is None)

    def add_trusted_device(self, device: TrustedDevice, token_hash: str) -> None:
        with self.lock:
            if any(d.token_hash == token_hash for d in self.devices.values()):
                raise ValueError("duplicate token")
            self.devices[device.id] = _Device(device, token_hash)

    def _alive(self, held: _Device, now: float) -> bool:
        return held.revoked_at is None and held.device.expires_at > now

    def trusted_device(
        self, account_uuid: str, token_hash: str, now: float
    ) -> TrustedDevice | None:
        with self.lock:
            for held in self.devices.values():
                if (
                    held.token_hash == token_hash
                    and held.device.account_uuid == account_uuid
                    and self._alive(held, now)
                ):
                    held.device = replace(held.device, last_used_at=now)
                    return held.device
            return None

    def trusted_devices(self, account_uuid: str, now: float) -> list[TrustedDevice]:
        alive = [
            h.device
            for h in self.devices.values()
            if h.device.account_uuid == account_uuid and self._alive(h, now)
        ]
        return sorted(alive, key=lambda d: (-(d.last_used_at or d.created_at), d.id))

    def revoke_trusted_device(
        self, account_uuid: str, device_id: str, now: float | None = None
    ) -> bool:
        with self.lock:
            held = self.devices.get(device_id)
            if held is None or held.device.account_uuid != account_uuid or held.revoked_at:
                return False
            held.revoked_at = time.time() if now is None else now
            return True

    def revoke_trusted_devices(self, account_uuid: str, now: float | None = None) -> int:
        count = 0
        for held in self.devices.values():
            if held.device.account_uuid == account_uuid and held.revoked_at is None:
                held.revoked_at = time.time() if now is None else now
                count += 1
        return count

    def grace_used(self, account_uuid: str) -> int:
        return self.grace.get(account_uuid, 0)

    def use_grace(self, account_uuid: str) -> int:
        with self.lock:
            self.grace[account_uuid] = self.grace.get(account_uuid, 0) + 1
            return self.grace[account_uuid]

    def verified_channel(self, account_uuid: str, kind: FactorKind) -> str | None:
        return self.channels.get(account_uuid, {}).get(kind)

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        return sorted((f.id, f.secret) for f in self.rows.values() if f.secret is not None)

    def replace_secret(self, factor_id: str, old: bytes, new: bytes) -> bool:
        with self.lock:
            factor = self.rows.get(factor_id)
            if factor is None or factor.secret != old:
                return False
            self.rows[factor_id] = replace(factor, secret=new)
            return True
