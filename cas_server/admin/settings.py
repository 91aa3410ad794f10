"""The ``[admin]`` section: checked once at start, like the rest of the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "import_max_bytes": 10 * 1024 * 1024,
    "import_dir": "",
    "audit_retention_days": 365,
    "page_size": 25,
    "temporary_password_days": 7,
    "timezone": "Europe/Paris",
}


@dataclass(frozen=True)
class AdminSettings:
    import_max_bytes: int  # largest CSV file accepted (web and command line)
    import_dir: Path  # where an uploaded file waits between the dry run and the real run
    audit_retention_days: int  # `cas-server audit purge` removes older events
    page_size: int  # search results and audit events per page
    temporary_password_days: int  # a temporary password set by the help desk expires
    timezone: str  # dates on the console pages


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = section.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"admin.{key}", f"must be an integer between {low} and {high}")
    return value


def load_admin_settings(raw: Mapping[str, Mapping[str, Any]], instance_path: str) -> AdminSettings:
    section = raw.get("admin", {})
    folder = section.get("import_dir", "")
    if not isinstance(folder, str):
        raise ConfigError("admin.import_dir", "must be a folder path")
    zone = section.get("timezone", DEFAULTS["timezone"])
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError("admin.timezone", f"unknown time zone {zone!r}") from exc
    base = Path(instance_path)
    return AdminSettings(
        import_max_bytes=_int(section, "import_max_bytes", 1024, 1024**3),
        import_dir=(base / folder) if folder else base / "imports",
        audit_retention_days=_int(section, "audit_retention_days", 1, 36500),
        page_size=_int(section, "page_size", 5, 500),
        temporary_password_days=_int(section, "temporary_password_days", 1, 90),
        timezone=zone,
    )
