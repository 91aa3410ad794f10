"""Engine set-up for PostgreSQL failover (storage/sql/db.py): multi-host URLs and time-outs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from cas_server.storage.sql.db import make_engine


class Captured(Exception):
    pass


def _connect_params(url: str) -> dict[str, Any]:
    """What the engine would hand psycopg.connect (caught before any socket is opened)."""
    engine = make_engine(url)
    seen: dict[str, Any] = {}

    def capture(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        seen.update(params)
        raise Captured

    event.listen(engine, "do_connect", capture)
    with pytest.raises(Captured):
        engine.connect()
    seen.pop("context", None)
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()
    return seen


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://cas@/cas?host=db1:5432,db2:5433&target_session_attrs=read-write",
        "postgresql+psycopg://cas@/cas?host=db1:5432&host=db2:5433&target_session_attrs=read-write",
        "postgresql+psycopg://cas@/cas?host=db1,db2&port=5432,5433&target_session_attrs=read-write",
    ],
)
def test_every_multi_host_form_reaches_libpq_as_two_hosts(url: str) -> None:
    params = _connect_params(url)
    assert params["host"] == "db1,db2"
    assert params["port"] == "5432,5433"
    assert params["target_session_attrs"] == "read-write"


def test_a_single_host_url_is_left_alone() -> None:
    params = _connect_params("postgresql+psycopg://cas:pw@db1:5432/cas")
    assert (params["host"], params["port"], params["dbname"]) == ("db1", 5432, "cas")


def test_bounded_time_outs_unless_the_url_says_otherwise() -> None:
    params = _connect_params("postgresql+psycopg://cas@db1/cas")
    assert params["connect_timeout"] == 5
    assert params["tcp_user_timeout"] == 10000
    assert (params["keepalives_idle"], params["keepalives_count"]) == (10, 3)
    params = _connect_params("postgresql+psycopg://cas@db1/cas?connect_timeout=2")
    assert params["connect_timeout"] == "2"
