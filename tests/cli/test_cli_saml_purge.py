"""``cas-server purge`` with ``[saml] enabled`` (#18): expired SAML participants go,
live ones stay; without SAML the line is not printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cas_server.protocol.saml2.name_id import TRANSIENT
from cas_server.protocol.saml2.ports import SamlParticipant
from tests.web.saml.saml_web_support import SP1, saml_overrides, write_sp_files


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return saml_overrides(write_sp_files(tmp_path), tmp_path)


def _participant(handle: str, now: float) -> SamlParticipant:
    return SamlParticipant(
        session_handle=handle,
        sp_entity_id=SP1,
        name_id="transient-" + handle,
        name_id_format=TRANSIENT,
        session_index="index-" + handle,
        created_at=now,
    )


def test_purge_removes_expired_saml_participants(app: Flask, runner: Any) -> None:
    c = app.extensions["cas"]
    assert c.saml_sessions is not None
    now = c.clock.now()
    c.saml_sessions.record(_participant("dead1", now - 7200), now - 60)
    c.saml_sessions.record(_participant("dead2", now - 7200), now - 1)
    c.saml_sessions.record(_participant("live", now), now + 3600)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "2 expired SAML participant(s) removed" in result.output
    assert c.saml_sessions.participants("dead1") == []
    assert [p.name_id for p in c.saml_sessions.participants("live")] == ["transient-live"]
    again = runner.invoke(args=["purge"])
    assert "0 expired SAML participant(s) removed" in again.output


def test_purge_without_saml_says_nothing_of_it(
    app: Flask, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.extensions["cas"], "saml_sessions", None)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "SAML" not in result.output
