"""Second factors on SQL (issue #14): factors, recovery codes, trusted devices, grace.

Every use of a one-time proof is one conditional ``UPDATE``: a TOTP step only
if later than the last one, a recovery code only while unused, a WebAuthn
counter only from the value it was read at. Two requests racing get one
success, on SQLite and PostgreSQL alike. Replacing the recovery codes is one
transaction (the old set is gone when the new one is there).
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ...accounts.mfa.model import Factor, FactorExists, FactorKind, TrustedDevice
from .models import (
    AccountRow,
    MfaFactorRow,
    MfaGraceRow,
    MfaRecoveryCodeRow,
    MfaTrustedDeviceRow,
)

F = cast(Table, MfaFactorRow.__table__)
R = cast(Table, MfaRecoveryCodeRow.__table__)
D = cast(Table, MfaTrustedDeviceRow.__table__)
G = cast(Table, MfaGraceRow.__table__)
A = cast(Table, AccountRow.__table__)
CHANNELS = {
    FactorKind.EMAIL: (A.c.personal_email, A.c.personal_email_verified_at),
    FactorKind.SMS: (A.c.mobile, A.c.mobile_verified_at),
}


def _factor(row: Any) -> Factor:
    return Factor(
        id=row.id,
        account_uuid=row.account_uuid,
        kind=FactorKind(row.kind),
        label=row.label,
        created_at=float(row.created_at),
        last_used_at=None if row.last_used_at is None else float(row.last_used_at),
        secret=None if row.secret is None else bytes(row.secret),
        credential_id=None if row.credential_id is None else bytes(row.credential_id),
        public_key=None if row.public_key is None else bytes(row.public_key),
        sign_count=int(row.sign_count),
        transports=tuple(row.transports or ()),
        last_step=int(row.last_step),
    )


def _device(row: Any) -> TrustedDevice:
    return TrustedDevice(
        id=row.id,
        account_uuid=row.account_uuid,
        label=row.label,
        created_at=float(row.created_at),
        expires_at=float(row.expires_at),
        last_used_at=None if row.last_used_at is None else float(row.last_used_at),
    )


def _live_device(now: float) -> Any:
    return D.c.revoked_at.is_(None) & (D.c.expires_at > now)


class SqlMfaStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- factors -------------------------------------------------------------------------

    def factors(self, account_uuid: str) -> list[Factor]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(F).where(F.c.account_uuid == account_uuid).order_by(F.c.created_at, F.c.id)
            ).all()
        return [_factor(r) for r in rows]

    def factor(self, account_uuid: str, factor_id: str) -> Factor | None:
        with self.engine.connect() as c:
            row = c.execute(
                select(F).where((F.c.account_uuid == account_uuid) & (F.c.id == factor_id))
            ).first()
        return _factor(row) if row is not None else None

    def add_factor(self, factor: Factor) -> None:
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(F).values(
                        id=factor.id,
                        account_uuid=factor.account_uuid,
                        kind=factor.kind.value,
                        label=factor.label,
                        secret=factor.secret,
                        credential_id=factor.credential_id,
                        public_key=factor.public_key,
                        sign_count=factor.sign_count,
                        transports=list(factor.transports),
                        last_step=factor.last_step,
                        created_at=factor.created_at,
                        last_used_at=factor.last_used_at,
                    )
                )
        except IntegrityError as exc:
            if factor.credential_id is not None and self.by_credential_id(factor.credential_id):
                raise FactorExists from exc
            raise

    def rename_factor(self, account_uuid: str, factor_id: str, label: str) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(F)
                .where((F.c.account_uuid == account_uuid) & (F.c.id == factor_id))
                .values(label=label)
            )
        return result.rowcount == 1

    def remove_factor(self, account_uuid: str, factor_id: str) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                delete(F).where((F.c.account_uuid == account_uuid) & (F.c.id == factor_id))
            )
        return result.rowcount == 1

    def remove_all(self, account_uuid: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.engine.begin() as c:
            removed = c.execute(delete(F).where(F.c.account_uuid == account_uuid)).rowcount
            c.execute(delete(R).where(R.c.account_uuid == account_uuid))
            c.execute(
                update(D)
                .where((D.c.account_uuid == account_uuid) & D.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            c.execute(delete(G).where(G.c.account_uuid == account_uuid))
        return int(removed or 0)

    def use_totp_step(self, factor_id: str, step: int, now: float) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(F)
                .where(
                    (F.c.id == factor_id)
                    & (F.c.kind == FactorKind.TOTP.value)
                    & (F.c.last_step < step)
                )
                .values(last_step=step, last_used_at=now)
            )
        return result.rowcount == 1

    def by_credential_id(self, credential_id: bytes) -> Factor | None:
        with self.engine.connect() as c:
            row = c.execute(select(F).where(F.c.credential_id == credential_id)).first()
        return _factor(row) if row is not None else None

    def use_webauthn(self, factor_id: str, old_count: int, new_count: int, now: float) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(F)
                .where((F.c.id == factor_id) & (F.c.sign_count == old_count))
                .values(sign_count=new_count, last_used_at=now)
            )
        return result.rowcount == 1

    def verified_channel(self, account_uuid: str, kind: FactorKind) -> str | None:
        if kind not in CHANNELS:
            return None
        value, verified = CHANNELS[kind]
        with self.engine.connect() as c:
            row = c.execute(select(value, verified).where(A.c.uuid == account_uuid)).first()
        if row is None or not row[0] or row[1] is None:
            return None
        return str(row[0])

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(F.c.id, F.c.secret).where(F.c.secret.is_not(None)).order_by(F.c.id)
            ).all()
        return [(r.id, bytes(r.secret)) for r in rows]

    def replace_secret(self, factor_id: str, old: bytes, new: bytes) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(F).where((F.c.id == factor_id) & (F.c.secret == old)).values(secret=new)
            )
        return result.rowcount == 1

    # --- recovery codes ------------------------------------------------------------------

    def replace_recovery_codes(self, account_uuid: str, hashes: list[str], now: float) -> None:
        with self.engine.begin() as c:
            c.execute(delete(R).where(R.c.account_uuid == account_uuid))
            if hashes:
                c.execute(
                    insert(R),
                    [
                        {"account_uuid": account_uuid, "code_hash": h, "created_at": now}
                        for h in hashes
                    ],
                )

    def use_recovery_code(self, account_uuid: str, code_hash: str, now: float) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(R)
                .where(
                    (R.c.account_uuid == account_uuid)
                    & (R.c.code_hash == code_hash)
                    & R.c.used_at.is_(None)
                )
                .values(used_at=now)
            )
        return result.rowcount == 1

    def recovery_codes_left(self, account_uuid: str) -> int:
        with self.engine.connect() as c:
            count = c.execute(
                select(func.count())
                .select_from(R)
                .where((R.c.account_uuid == account_uuid) & R.c.used_at.is_(None))
            ).scalar_one()
        return int(count)

    # --- trusted devices -----------------------------------------------------------------

    def add_trusted_device(self, device: TrustedDevice, token_hash: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                insert(D).values(
                    id=device.id,
                    account_uuid=device.account_uuid,
                    token_hash=token_hash,
                    label=device.label[:100],
                    created_at=device.created_at,
                    expires_at=device.expires_at,
                    last_used_at=device.last_used_at,
                    revoked_at=None,
                )
            )

    def trusted_device(
        self, account_uuid: str, token_hash: str, now: float
    ) -> TrustedDevice | None:
        with self.engine.begin() as c:
            row = c.execute(
                update(D)
                .where(
                    (D.c.account_uuid == account_uuid)
                    & (D.c.token_hash == token_hash)
                    & _live_device(now)
                )
                .values(last_used_at=now)
                .returning(*D.c)
            ).first()
        return _device(row) if row is not None else None

    def trusted_devices(self, account_uuid: str, now: float) -> list[TrustedDevice]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(D)
                .where((D.c.account_uuid == account_uuid) & _live_device(now))
                .order_by(func.coalesce(D.c.last_used_at, D.c.created_at).desc(), D.c.id)
            ).all()
        return [_device(r) for r in rows]

    def revoke_trusted_device(
        self, account_uuid: str, device_id: str, now: float | None = None
    ) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                update(D)
                .where(
                    (D.c.account_uuid == account_uuid)
                    & (D.c.id == device_id)
                    & D.c.revoked_at.is_(None)
                )
                .values(revoked_at=time.time() if now is None else now)
            )
        return result.rowcount == 1

    def revoke_trusted_devices(self, account_uuid: str, now: float | None = None) -> int:
        with self.engine.begin() as c:
            result = c.execute(
                update(D)
                .where((D.c.account_uuid == account_uuid) & D.c.revoked_at.is_(None))
                .values(revoked_at=time.time() if now is None else now)
            )
        return int(result.rowcount or 0)

    def purge_trusted_devices(self, now: float, keep: float = 30 * 86400.0) -> int:
        """Forget devices expired or revoked more than ``keep`` seconds ago."""
        with self.engine.begin() as c:
            result = c.execute(
                delete(D).where(
                    (D.c.expires_at < now - keep)
                    | (D.c.revoked_at.is_not(None) & (D.c.revoked_at < now - keep))
                )
            )
        return int(result.rowcount or 0)

    # --- enrolment grace -----------------------------------------------------------------

    def grace_used(self, account_uuid: str) -> int:
        with self.engine.connect() as c:
            used = c.execute(select(G.c.used).where(G.c.account_uuid == account_uuid)).scalar()
        return int(used or 0)

    def use_grace(self, account_uuid: str) -> int:
        """One upsert: concurrent sign-ins each count (``used = used + 1`` in the database)."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(G)
            .values(account_uuid=account_uuid, used=1)
            .on_conflict_do_update(index_elements=[G.c.account_uuid], set_={"used": G.c.used + 1})
            .returning(G.c.used)
        )
        with self.engine.begin() as c:
            return int(c.execute(statement).scalar_one())
