"""Dates as people read them: in words, in the institution's time zone (issue #12, 1 and 23).

One formatter for every page, mail and console view: "3 décembre 2026 à 14 h 43"
/ "3 December 2026, 14:43" (never "12/3/26, 4:07 PM"), in the zone of
``[i18n] timezone``. Mails add the zone's name and the offset of that very
instant: "heure de Paris (UTC+1)" in winter, "(UTC+2)" in summer.

The templates use the ``datetimeformat`` filter (``when|datetimeformat(with_zone=True)``)
and ``dateformat`` for a day alone; :func:`init_app` puts these in place of
Flask-Babel's filters of the same names.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, get_timezone_location
from flask import Flask, current_app
from flask_babel import get_locale, gettext

# Explicit patterns per language: a month in words, a 24-hour clock.
PATTERNS = {
    "fr": ("d MMMM y 'à' H 'h' mm", "d MMMM y 'à' H 'h' mm 'min' ss"),
    "en": ("d MMMM y, HH:mm", "d MMMM y, HH:mm:ss"),
}
DAY_PATTERN = "d MMMM y"
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "GMT", "Etc/GMT"})


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone() -> ZoneInfo:
    """The institution's zone: ``[i18n] timezone``, read once by ``create_app``."""
    return _zone(str(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC"))


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "fr"


def offset(value: timedelta | None) -> str:
    """``UTC+1``, ``UTC-5``, ``UTC+5:30``, ``UTC+0``."""
    minutes = int((value or timedelta()).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_text(local: datetime) -> str:
    """``heure de Paris (UTC+1)`` / ``Paris time (UTC+2)``: the offset of that instant."""
    tz = local.tzinfo
    key = getattr(tz, "key", "UTC")
    if key in UTC_NAMES:
        return "UTC"
    city = get_timezone_location(tz, locale=_language(), return_city=True)
    name = gettext("%(city)s time", city=city)
    return f"{name} ({offset(local.utcoffset())})"


def when(value: datetime | float | None, *, with_zone: bool = False, seconds: bool = False) -> str:
    """A date and time in words, in the configured zone and the current language.

    ``value``: an aware datetime, a naive one taken as UTC, or a Unix timestamp.
    ``with_zone``: add the zone's name and offset (mails, where the reader may be
    anywhere). ``None`` gives "".
    """
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone())
    language = _language()
    pattern = PATTERNS.get(language, PATTERNS["en"])[1 if seconds else 0]
    text = format_datetime(local, pattern, tzinfo=local.tzinfo, locale=language)
    return f"{text}, {zone_text(local)}" if with_zone else text


def day(value: date | datetime | None) -> str:
    """A day alone in words: "3 décembre 2026" / "3 December 2026"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(zone()).date() if value.tzinfo else value.date()
    return format_date(value, DAY_PATTERN, locale=_language())


def _datetimeformat(value: Any, *_: Any, with_zone: bool = False, seconds: bool = False) -> str:
    # Extra positional arguments (Flask-Babel's "medium", "short") are ignored:
    # there is one way to write a date.
    return when(value, with_zone=with_zone, seconds=seconds)


def _dateformat(value: Any, *_: Any) -> str:
    return day(value)


def init_app(app: Flask) -> None:
    """The templates' filters, in place of Flask-Babel's (after ``Babel(app)``)."""
    app.jinja_env.filters.update(datetimeformat=_datetimeformat, dateformat=_dateformat)
