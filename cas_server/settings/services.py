"""Load service definitions from TOML files a sysadmin keeps in version control.

Each file holds ``[[services]]`` tables. Every problem is reported with the
file and the key at fault, and stops the server from starting: a typo in a
URL pattern must never silently open or close an application.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..protocol.cas.services import (
    LOGOUT_TYPES,
    MFA_POLICIES,
    XML_NAME_RE,
    AccessRule,
    RegisteredService,
    ServiceRegistry,
)

KNOWN_KEYS = {
    "id",
    "name",
    "description",
    "url_pattern",
    "url_prefix",
    "url_exact",
    "evaluation_order",
    "enabled",
    "release_attributes",
    "proxy_callback_pattern",
    "logout_url",
    "logout_type",
    "theme",
    "access",
    "cas2_attributes",
    "mfa",
    "surrogate",
}
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ServiceDefinitionError(ValueError):
    """A service definition that cannot be used, with where it is."""

    def __init__(self, source: str, key: str, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key


def service_files(paths: Iterable[Path]) -> list[Path]:
    """Files named by the configuration: a file as is, a folder's ``*.toml`` sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            raise ServiceDefinitionError(str(path), "services.paths", "no such file or folder")
    return files


def load_registry(
    paths: Iterable[Path],
    internal: Iterable[RegisteredService] = (),
    *,
    cas2_attributes: bool = False,
) -> ServiceRegistry:
    """Every service in the files, plus the server's own pages (``internal``).

    ``cas2_attributes`` is ``[services] cas2_attributes``: the value of a
    service's own ``cas2_attributes`` key when it has none.
    """
    services: list[RegisteredService] = list(internal)
    seen: dict[str, str] = {s.id: "(built in)" for s in services}
    for file in service_files(paths):
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ServiceDefinitionError(str(file), "(file)", f"not valid TOML: {exc}") from exc
        entries = data.get("services", [])
        if not isinstance(entries, list):
            raise ServiceDefinitionError(str(file), "services", "must be an array of tables")
        for index, entry in enumerate(entries):
            where = f"{file}[services #{index + 1}]"
            service = parse_service(entry, where, cas2_attributes=cas2_attributes)
            if service.id in seen:
                raise ServiceDefinitionError(
                    where, "id", f"{service.id!r} is already defined in {seen[service.id]}"
                )
            seen[service.id] = where
            services.append(service)
    return ServiceRegistry(services)


def _compile(where: str, key: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ServiceDefinitionError(where, key, "must be a non-empty string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ServiceDefinitionError(where, key, f"invalid regular expression: {exc}") from exc


def _url_pattern(entry: dict[str, Any], where: str) -> re.Pattern[str]:
    given = [k for k in ("url_pattern", "url_prefix", "url_exact") if k in entry]
    if len(given) != 1:
        raise ServiceDefinitionError(
            where, "url_pattern", "give exactly one of url_pattern, url_prefix, url_exact"
        )
    key = given[0]
    value = entry[key]
    if key == "url_pattern":
        return _compile(where, key, value)
    if not isinstance(value, str) or not re.match(r"https?://[^/?#]+", value):
        raise ServiceDefinitionError(where, key, "must be an absolute http(s) URL")
    if key == "url_exact":
        return re.compile(re.escape(value))
    # A prefix must end on a path boundary, or https://app.example would
    # also accept https://app.example.evil.org.
    if not value.endswith("/"):
        return re.compile(re.escape(value) + r"(?:[/?#].*)?")
    return re.compile(re.escape(value) + ".*")


def _release(entry: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    raw = entry.get("release_attributes", [])
    if not isinstance(raw, list):
        raise ServiceDefinitionError(where, "release_attributes", "must be a list")
    pairs: list[tuple[str, str]] = []
    for item in raw:
        source: Any
        target: Any
        if isinstance(item, str):
            source, target = item, item
        elif isinstance(item, dict) and set(item) <= {"name", "as"} and "name" in item:
            source, target = item["name"], item.get("as", item["name"])
        else:
            raise ServiceDefinitionError(
                where, "release_attributes", f'{item!r}: use "name" or {{ name = "…", as = "…" }}'
            )
        for value in (source, target):
            if not isinstance(value, str) or not XML_NAME_RE.fullmatch(value):
                raise ServiceDefinitionError(
                    where, "release_attributes", f"{value!r} is not a valid attribute name"
                )
        pairs.append((source, target))
    return tuple(pairs)


def _access(entry: dict[str, Any], where: str) -> AccessRule:
    raw = entry.get("access", {})
    if not isinstance(raw, dict) or not set(raw) <= {"affiliations", "logins"}:
        raise ServiceDefinitionError(where, "access", "allowed keys: affiliations, logins")
    sets = {}
    for key in ("affiliations", "logins"):
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ServiceDefinitionError(where, f"access.{key}", "must be a list of strings")
        sets[key] = frozenset(values)
    return AccessRule(affiliations=sets["affiliations"], logins=sets["logins"])


def _typed(entry: dict[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    value = entry.get(key, default)
    if value is None:
        return None
    # bool is an int in Python, not in TOML: "evaluation_order = true" is an error.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ServiceDefinitionError(where, key, f"must be a {kind.__name__}")
    return value


def parse_service(entry: Any, where: str, *, cas2_attributes: bool = False) -> RegisteredService:
    if not isinstance(entry, dict):
        raise ServiceDefinitionError(where, "services", "each service must be a table")
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise ServiceDefinitionError(where, unknown[0], "unknown key")
    service_id = entry.get("id")
    if not isinstance(service_id, str) or not ID_RE.fullmatch(service_id):
        raise ServiceDefinitionError(where, "id", "required: letters, digits, '.', '_' or '-'")
    where = f"{where} ({service_id})"
    name = _typed(entry, where, "name", str, None)
    if not name:
        raise ServiceDefinitionError(where, "name", "required")
    logout_type = _typed(entry, where, "logout_type", str, "back_channel")
    if logout_type not in LOGOUT_TYPES:
        raise ServiceDefinitionError(where, "logout_type", f"one of {', '.join(LOGOUT_TYPES)}")
    logout_url = _typed(entry, where, "logout_url", str, None)
    if logout_url is not None and not re.match(r"https?://[^/?#]+", logout_url):
        raise ServiceDefinitionError(where, "logout_url", "must be an absolute http(s) URL")
    mfa = _typed(entry, where, "mfa", str, "optional")
    if mfa not in MFA_POLICIES:
        raise ServiceDefinitionError(where, "mfa", '"required" or "optional"')
    proxy = entry.get("proxy_callback_pattern")
    theme = _typed(entry, where, "theme", str, None)
    if theme is not None and not ID_RE.fullmatch(theme):
        raise ServiceDefinitionError(where, "theme", "must be a theme folder name")
    return RegisteredService(
        id=service_id,
        name=name,
        description=_typed(entry, where, "description", str, ""),
        url_pattern=_url_pattern(entry, where),
        evaluation_order=_typed(entry, where, "evaluation_order", int, 0),
        enabled=_typed(entry, where, "enabled", bool, True),
        release_attributes=_release(entry, where),
        proxy_callback_pattern=None
        if proxy is None
        else _compile(where, "proxy_callback_pattern", proxy),
        logout_url=logout_url,
        logout_type=logout_type,
        theme=theme,
        access=_access(entry, where),
        source=where,
        cas2_attributes=_typed(entry, where, "cas2_attributes", bool, cas2_attributes),
        mfa_required=mfa == "required",
        surrogate=_typed(entry, where, "surrogate", bool, True),
    )
