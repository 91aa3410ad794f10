"""The README's walkthrough says what a newcomer meets (issue #12, item 26)."""

from __future__ import annotations

from pathlib import Path

from cas_server.accounts.charter import charter_for
from cas_server.settings.charters import load_charters

ROOT = Path(__file__).resolve().parents[1]


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Two commands", 1)[1].split("### Try the self-service pages", 1)[0]


def test_the_sign_in_walkthrough_mentions_the_charter_the_demo_shows() -> None:
    charters = load_charters(ROOT / "config" / "charters" / "charters.toml")
    assert charter_for(charters, "student") is not None  # the demo student meets one
    assert "charter" in _walkthrough()


def test_the_walkthrough_says_how_to_change_ports_and_stop() -> None:
    walkthrough = _walkthrough()
    assert "DEMO_CLIENT_PORT" in walkthrough and "Ctrl-C" in walkthrough
