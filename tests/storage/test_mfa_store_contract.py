"""The second factor's store: the same promises in memory (the unit tests' fake), on SQLite
and on PostgreSQL (a real server from tests/support/servers.py).

The single-use operations are raced from threads: one TOTP step, one recovery
code, one WebAuthn counter value, many requests at the same instant, one winner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, update

from cas_server.accounts.mfa.model import Factor, FactorExists, FactorKind, TrustedDevice
from cas_server.accounts.model import Profile
from cas_server.storage.sql.accounts import SqlAccountRepository
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.mfa import SqlMfaStore
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import (
    AccountRow,
    MfaFactorRow,
    MfaGraceRow,
    MfaRecoveryCodeRow,
    MfaTrustedDeviceRow,
)
from tests.support.mfa_store import MemoryMfaStore

NOW = 1_800_000_000.0
THREADS = 8


@dataclass
class Backend:
    store: SqlMfaStore | MemoryMfaStore
    new_account: Callable[..., str]
    engine: Engine | None = None


def _backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if kind == "memory":
        counter = iter(range(1000))
        yield Backend(MemoryMfaStore(), lambda **_: f"u-{next(counter)}")
        return
    if kind == "postgresql":
        engine = make_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'mfa.sqlite3'}")
        upgrade(engine)
    accounts = SqlAccountRepository(engine)
    counter = iter(range(1000))

    def new_account(**fields: object) -> str:
        return accounts.create(f"user{next(counter)}", profile=Profile.STAFF, **fields).uuid  # type: ignore[arg-type]

    yield Backend(SqlMfaStore(engine), new_account, engine)
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """What only the SQL store holds: the accounts' channels, foreign keys."""
    yield from _backend(request.param, request, tmp_path)


def fid(account: str, n: int) -> str:
    return f"f{n}-{account[-24:]}"  # ids are at most 36 characters


def kid(account: str, n: int) -> str:
    return f"k{n}-{account[-24:]}"


def did(account: str, n: int) -> str:
    return f"d{n}-{account[-24:]}"


def totp(account: str, n: int = 0, **fields: object) -> Factor:
    values: dict[str, object] = {
        "id": fid(account, n),
        "account_uuid": account,
        "kind": FactorKind.TOTP,
        "label": f"Phone {n}",
        "created_at": NOW + n,
        "secret": b"sealed-" + bytes([n]),
        "last_step": 100,
    }
    values.update(fields)
    return Factor(**values)  # type: ignore[arg-type]


def key(account: str, n: int = 0, credential: bytes = b"\x01" * 32) -> Factor:
    return Factor(
        id=kid(account, n),
        account_uuid=account,
        kind=FactorKind.WEBAUTHN,
        label=f"Key {n}",
        created_at=NOW + 50 + n,
        credential_id=credential,
        public_key=b"\xa5cose",
        sign_count=4_000_000_000,  # beyond a 32-bit signed integer
        transports=("usb", "nfc"),
    )


def race(attempt: Callable[[], bool], threads: int = THREADS) -> int:
    barrier = threading.Barrier(threads)
    wins: list[bool] = []

    def run() -> None:
        barrier.wait(timeout=10)
        if attempt():
            wins.append(True)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return len(wins)


# --- factors ----------------------------------------------------------------------------------


def test_factors_round_trip_in_order_and_per_account(backend: Backend) -> None:
    store, alice, bob = backend.store, backend.new_account(), backend.new_account()
    webauthn, phone = key(alice), totp(alice)
    store.add_factor(webauthn)
    store.add_factor(phone)
    store.add_factor(totp(bob))
    assert store.factors(alice) == [phone, webauthn]  # oldest first
    assert store.factor(alice, webauthn.id) == webauthn
    assert store.factor(bob, webauthn.id) is None
    assert store.by_credential_id(b"\x01" * 32) == webauthn
    assert store.by_credential_id(b"\x02" * 32) is None
    assert store.rename_factor(alice, phone.id, "Old phone")
    assert not store.rename_factor(bob, phone.id, "Mine")
    assert store.factor(alice, phone.id).label == "Old phone"  # type: ignore[union-attr]
    assert not store.remove_factor(bob, phone.id)
    assert store.remove_factor(alice, phone.id)
    assert not store.remove_factor(alice, phone.id)
    assert store.factors(alice) == [webauthn]


def test_a_credential_id_is_registered_once(backend: Backend) -> None:
    store, alice, bob = backend.store, backend.new_account(), backend.new_account()
    store.add_factor(key(alice))
    with pytest.raises(FactorExists):
        store.add_factor(key(bob, 1))  # the same credential id on another account


def test_totp_steps_only_move_forward(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    store.add_factor(totp(alice))
    assert not store.use_totp_step(fid(alice, 0), 100, NOW)  # the step already used
    assert not store.use_totp_step(fid(alice, 0), 99, NOW)
    assert store.use_totp_step(fid(alice, 0), 101, NOW + 30)
    used = store.factor(alice, fid(alice, 0))
    assert used is not None and used.last_step == 101 and used.last_used_at == NOW + 30
    assert not store.use_totp_step("no-such-factor", 500, NOW)
    store.add_factor(key(alice))
    assert not store.use_totp_step(kid(alice, 0), 500, NOW)  # not a TOTP factor


def test_one_totp_step_wins_once_under_a_race(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    store.add_factor(totp(alice))
    for step in (101, 102, 103):
        assert race(lambda step=step: store.use_totp_step(fid(alice, 0), step, NOW)) == 1


def test_webauthn_counters_move_from_the_value_read(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    store.add_factor(key(alice))
    factor_id, start = kid(alice, 0), 4_000_000_000
    assert not store.use_webauthn(factor_id, start - 1, start + 1, NOW)
    assert store.use_webauthn(factor_id, start, start + 1, NOW)
    assert store.factor(alice, factor_id).sign_count == start + 1  # type: ignore[union-attr]
    assert race(lambda: store.use_webauthn(factor_id, start + 1, start + 2, NOW)) == 1


def test_sealed_secrets_are_listed_and_replaced_only_if_unchanged(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    store.add_factor(totp(alice, 0))
    store.add_factor(totp(alice, 1))
    store.add_factor(key(alice))  # no secret
    secrets = dict(store.sealed_secrets())
    assert secrets == {fid(alice, 0): b"sealed-\x00", fid(alice, 1): b"sealed-\x01"}
    assert store.replace_secret(fid(alice, 0), b"sealed-\x00", b"resealed")
    assert not store.replace_secret(fid(alice, 0), b"sealed-\x00", b"again")
    assert store.factor(alice, fid(alice, 0)).secret == b"resealed"  # type: ignore[union-attr]


# --- recovery codes ---------------------------------------------------------------------------


def test_recovery_codes_are_replaced_as_a_set_and_used_once(backend: Backend) -> None:
    store, alice, bob = backend.store, backend.new_account(), backend.new_account()
    store.replace_recovery_codes(alice, [f"h{n}" for n in range(10)], NOW)
    store.replace_recovery_codes(bob, ["h0"], NOW)
    assert store.recovery_codes_left(alice) == 10
    assert store.use_recovery_code(alice, "h3", NOW)
    assert not store.use_recovery_code(alice, "h3", NOW)
    assert not store.use_recovery_code(alice, "nope", NOW)
    assert store.recovery_codes_left(alice) == 9
    store.replace_recovery_codes(alice, ["n1", "n2"], NOW + 1)
    assert not store.use_recovery_code(alice, "h4", NOW)  # the old set is void
    assert store.recovery_codes_left(alice) == 2
    assert store.recovery_codes_left(bob) == 1  # Bob's untouched
    store.replace_recovery_codes(alice, [], NOW + 2)
    assert store.recovery_codes_left(alice) == 0


def test_one_recovery_code_wins_once_under_a_race(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    store.replace_recovery_codes(alice, ["a", "b", "c"], NOW)
    for code in ("a", "b"):
        assert race(lambda code=code: store.use_recovery_code(alice, code, NOW)) == 1
    assert store.recovery_codes_left(alice) == 1


# --- trusted devices and grace ----------------------------------------------------------------


def device(account: str, n: int = 0, expires: float = NOW + 86400) -> TrustedDevice:
    return TrustedDevice(did(account, n), account, f"Firefox {n}", NOW + n, expires)


def test_trusted_devices_live_until_expired_or_revoked(backend: Backend) -> None:
    store, alice, bob = backend.store, backend.new_account(), backend.new_account()
    store.add_trusted_device(device(alice, 0), "t0")
    store.add_trusted_device(device(alice, 1), "t1")
    store.add_trusted_device(device(alice, 2, expires=NOW + 10), "t2")
    store.add_trusted_device(device(bob, 0), "tb")
    found = store.trusted_device(alice, "t0", NOW + 100)
    assert found is not None and found.last_used_at == NOW + 100
    assert store.trusted_device(bob, "t0", NOW + 100) is None  # not Bob's
    assert store.trusted_device(alice, "t2", NOW + 100) is None  # expired
    assert [d.id for d in store.trusted_devices(alice, NOW + 100)] == [
        did(alice, 0),
        did(alice, 1),
    ]
    assert store.revoke_trusted_device(alice, did(alice, 0), NOW + 200)
    assert not store.revoke_trusted_device(alice, did(alice, 0), NOW + 200)
    assert not store.revoke_trusted_device(bob, did(alice, 1), NOW + 200)
    assert store.trusted_device(alice, "t0", NOW + 300) is None
    assert store.revoke_trusted_devices(alice, NOW + 300) == 2  # the expired one too
    assert store.trusted_devices(alice, NOW + 300) == []
    assert [d.id for d in store.trusted_devices(bob, NOW + 300)] == [did(bob, 0)]


def test_grace_counts_every_concurrent_sign_in(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    assert store.grace_used(alice) == 0
    assert store.use_grace(alice) == 1
    race(lambda: store.use_grace(alice) > 0)
    assert store.grace_used(alice) == 1 + THREADS


def test_remove_all_clears_one_account_only(backend: Backend) -> None:
    store, alice, bob = backend.store, backend.new_account(), backend.new_account()
    for who in (alice, bob):
        store.add_factor(totp(who))
        store.add_factor(key(who, credential=who.encode()))
        store.replace_recovery_codes(who, ["x", "y"], NOW)
        store.add_trusted_device(device(who), f"t-{who}")
        store.use_grace(who)
    assert store.remove_all(alice, NOW) == 2
    assert store.factors(alice) == [] and store.recovery_codes_left(alice) == 0
    assert store.trusted_devices(alice, NOW) == [] and store.grace_used(alice) == 0
    assert len(store.factors(bob)) == 2 and store.recovery_codes_left(bob) == 2
    assert store.trusted_device(bob, f"t-{bob}", NOW) is not None and store.grace_used(bob) == 1


def test_only_verified_channels_are_given(sql_backend: Backend) -> None:
    backend = sql_backend
    assert backend.engine is not None
    store = backend.store
    alice = backend.new_account(personal_email="alice@example.net", mobile="+33612345678")
    assert store.verified_channel(alice, FactorKind.EMAIL) is None  # on file, not verified
    with backend.engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.uuid == alice)
            .values(personal_email_verified_at=datetime.now(UTC))
        )
    assert store.verified_channel(alice, FactorKind.EMAIL) == "alice@example.net"
    assert store.verified_channel(alice, FactorKind.SMS) is None
    assert store.verified_channel(alice, FactorKind.TOTP) is None
    assert store.verified_channel("no-such-account", FactorKind.EMAIL) is None


def test_deleting_an_account_deletes_its_second_factor(sql_backend: Backend) -> None:
    backend = sql_backend
    assert backend.engine is not None
    store, alice = backend.store, backend.new_account()
    store.add_factor(totp(alice))
    store.replace_recovery_codes(alice, ["x"], NOW)
    store.add_trusted_device(device(alice), "t")
    store.use_grace(alice)
    with backend.engine.begin() as conn:
        conn.execute(delete(AccountRow).where(AccountRow.uuid == alice))
    with backend.engine.connect() as conn:
        for row in (MfaFactorRow, MfaRecoveryCodeRow, MfaTrustedDeviceRow, MfaGraceRow):
            assert conn.execute(select(func.count()).select_from(row)).scalar() == 0, row


def test_a_factor_round_trips_every_field(backend: Backend) -> None:
    store, alice = backend.store, backend.new_account()
    full = replace(key(alice), last_used_at=NOW + 5, last_step=7, secret=b"\x00\xff")
    store.add_factor(full)
    assert store.factor(alice, full.id) == full
