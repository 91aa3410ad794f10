"""The ``[admin]`` section: checked once at start, like the rest of the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .server import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "import_max_bytes": 10 * 1024 * 1024,
    "import_dir": "",
    "audit_retention_days": 365,
    "page_size": 25,
    "temporary_password_days": 7,
    "require_mfa": True,
}


@dataclass(frozen=True)
class AdminSettings:
    import_max_bytes: int  # largest CSV file accepted (web and command line)
    import_dir: Path  # where an uploaded file waits between the dry run and the real run
    audit_retention_days: int  # `cas-server audit purge` removes older events
    page_size: int  # search results and audit events per page
    temporary_password_days: int  # a temporary password set by the help desk expires
    # The console asks every operator for a second factor (when [mfa] is enabled).
    require_mfa: bool = True


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = section.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"admin.{key}", f"must be an integer between {low} and {high}")
    return value


def _bool(section: Mapping[str, Any], key: str) -> bool:
    value = section.get(key, DEFAULTS[key])
    if not isinstance(value, bool):
        raise ConfigError(f"admin.{key}", "must be true or false")
    return value


def load_admin_settings(raw: Mapping[str, Mapping[str, Any]], instance_path: str) -> AdminSettings:
    section = raw.get("admin", {})
    folder = section.get("import_dir", "")
    if not isinstance(folder, str):
        raise ConfigError("admin.import_dir", "must be a folder path")
    _no_zone_of_its_own(raw)
    base = Path(instance_path)
    return AdminSettings(
        import_max_bytes=_int(section, "import_max_bytes", 1024, 1024**3),
        import_dir=(base / folder) if folder else base / "imports",
        audit_retention_days=_int(section, "audit_retention_days", 1, 36500),
        page_size=_int(section, "page_size", 5, 500),
        temporary_password_days=_int(section, "temporary_password_days", 1, 90),
        require_mfa=_bool(section, "require_mfa"),
    )


def _no_zone_of_its_own(raw: Mapping[str, Mapping[str, Any]]) -> None:
    """``[admin] timezone`` is gone: the console shows dates in ``[i18n] timezone``,
    like the pages and the mails. A leftover key that says the same is accepted; one
    that differs stops the start rather than silently changing the console's dates."""
    if "timezone" not in raw.get("admin", {}):
        return
    old, server = raw["admin"]["timezone"], raw.get("i18n", {}).get("timezone", "UTC")
    if old != server:
        raise ConfigError(
            "admin.timezone",
            f"removed: set [i18n] timezone = {old!r} instead (dates on every page, mail "
            f"and the console are in that zone; it is {server!r} now)",
        )
