"""accounts/devices.py: a User-Agent in words, on real browsers' headers."""

from __future__ import annotations

import pytest

from cas_server.accounts.devices import MAX_USER_AGENT, Device, describe, phrase

CASES = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        Device("Firefox 121", "Windows", False),
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        Device("Firefox 120", "Linux", False),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Device("Chrome 120", "Windows", False),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        Device("Edge 120", "Windows", False),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.1 Safari/605.1.15",
        Device("Safari 17", "macOS", False),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
        Device("Opera 105", "macOS", False),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
        Device("Safari 17", "iOS 17", True),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        Device("Safari 16", "iPadOS 16", True),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        Device("Chrome 120", "iOS 17", True),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
        Device("Firefox 121", "iOS 17", True),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        Device("Chrome 120", "Android 10", True),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        Device("Samsung Internet 23", "Android 13", True),
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        Device("Firefox 121", "Android 14", True),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Device("Chrome 120", "ChromeOS", False),
    ),
    (
        "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.16",
        Device("Opera 12", "Windows", False),
    ),
    ("curl/8.5.0", Device(None, None, False)),
    ("python-requests/2.31.0", Device(None, None, False)),
    ("Mozilla/5.0 (Windows NT 10.0)", Device(None, "Windows", False)),
]


@pytest.mark.parametrize(("ua", "expected"), CASES, ids=[c[1].browser or c[0] for c in CASES])
def test_describe_real_user_agents(ua: str, expected: Device) -> None:
    assert describe(ua) == expected


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_nothing_sent_is_unknown(ua: str | None) -> None:
    assert describe(ua) == Device(None, None, False)


def test_only_the_first_characters_are_read() -> None:
    # A huge or hostile header costs a bounded amount of work and is not believed past
    # its first MAX_USER_AGENT characters.
    padding = "x" * MAX_USER_AGENT
    assert describe(padding + " Firefox/121.0 (Windows)") == Device(None, None, False)
    assert describe("(" * 100_000).browser is None


def test_phrase_for_every_combination() -> None:
    assert phrase(Device("Firefox 121", "Linux", False)) == (
        "%(browser)s on %(system)s",
        {"browser": "Firefox 121", "system": "Linux"},
    )
    assert phrase(Device("Chrome", None, False)) == ("%(browser)s", {"browser": "Chrome"})
    assert phrase(Device(None, "Android 14", True)) == (
        "A browser on %(system)s",
        {"system": "Android 14"},
    )
    assert phrase(Device(None, None, False)) == ("An unknown browser", {})
