"""A browser's User-Agent in words ("Firefox 121 on Windows"), for the person's
"My sign-ins" page, the new-device mail and the help desk's session explorer.

A small parser, not a database: the common browsers (Firefox, Chrome, Edge,
Safari, Opera, Samsung Internet) and systems (Windows, macOS, iOS, iPadOS,
Android, Linux, ChromeOS), the major version only. What it does not recognise
it leaves out (None) rather than guess. The header is whatever the client
sent: it is shown as a hint, never trusted, and only its first
:data:`MAX_USER_AGENT` characters are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .i18n import N_

MAX_USER_AGENT = 400


@dataclass(frozen=True)
class Device:
    browser: str | None  # "Firefox 121", "Safari 17", "Chrome" (no version given)
    system: str | None  # "Windows", "Android 14", "iOS 17", "macOS"
    mobile: bool  # a phone or a tablet


# Order matters: Edge, Opera and Samsung Internet also say "Chrome/…" and "Safari/…";
# Chrome says "Safari/…". Each pattern captures the major version when there is one.
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("Samsung Internet", r"SamsungBrowser/(\d+)"),
        ("Edge", r"(?:Edg|EdgA|EdgiOS|Edge)/(\d+)"),
        ("Opera", r"(?:OPR|OPX|OPT|OPiOS)/(\d+)|^Opera/.*Version/(\d+)|^Opera/(\d+)"),
        ("Firefox", r"(?:Firefox|FxiOS)/(\d+)"),
        ("Chrome", r"(?:Chrome|CriOS)/(\d+)"),
        ("Chromium", r"Chromium/(\d+)"),
        # Safari's own version is in "Version/…" (its "Safari/…" is WebKit's build).
        ("Safari", r"^(?=.*Safari/)(?:.*?Version/(\d+))?"),
    )
)

_ANDROID = re.compile(r"Android[ /]?(\d+)?")
_IOS = re.compile(r"(?:iPhone|iPod)(?:.*? OS (\d+)[_.\d]*)?")
_IPAD = re.compile(r"iPad(?:.*? OS (\d+)[_.\d]*)?")


def _browser(ua: str) -> str | None:
    for name, pattern in _BROWSERS:
        found = pattern.search(ua)
        if found:
            version = next((v for v in found.groups() if v), None)
            return f"{name} {version}" if version else name
    return None


def _with(name: str, version: str | None) -> str:
    return f"{name} {version}" if version else name


def _system(ua: str) -> tuple[str | None, bool]:
    """The system and whether it is a phone or a tablet."""
    if "Windows Phone" in ua:
        return "Windows", True
    if "CrOS" in ua:
        return "ChromeOS", False
    found = _IPAD.search(ua)
    if found:
        return _with("iPadOS", found.group(1)), True
    found = _IOS.search(ua)
    if found:
        return _with("iOS", found.group(1)), True
    found = _ANDROID.search(ua)
    if found:
        return _with("Android", found.group(1)), True
    if "Windows" in ua:
        return "Windows", False
    if "Macintosh" in ua or "Mac OS X" in ua:
        return "macOS", False
    if "Linux" in ua or "X11" in ua:
        return "Linux", "Mobi" in ua
    return None, "Mobi" in ua


def describe(user_agent: str | None) -> Device:
    """The browser and system a User-Agent names, as far as it can tell."""
    ua = (user_agent or "")[:MAX_USER_AGENT]
    if not ua.strip():
        return Device(None, None, False)
    system, mobile = _system(ua)
    return Device(_browser(ua), system, mobile or "Mobi" in ua or "Tablet" in ua)


def phrase(device: Device) -> tuple[str, dict[str, Any]]:
    """The words for ``device``: a message id (marked for translation) and its values,
    for ``gettext(message, **values)`` where it is shown."""
    if device.browser and device.system:
        return N_("%(browser)s on %(system)s"), {
            "browser": device.browser,
            "system": device.system,
        }
    if device.browser:
        return N_("%(browser)s"), {"browser": device.browser}
    if device.system:
        return N_("A browser on %(system)s"), {"system": device.system}
    return N_("An unknown browser"), {}
