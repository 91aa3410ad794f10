"""Configuration: defaults, then the deployment's TOML, then CAS_* variables, then overrides.

Read in ``create_app`` only, never at import. Every value is checked once
here, and a bad one stops the start with the key that is wrong.
"""

from __future__ import annotations

import itertools
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ..protocol.cas.tickets import TicketLifetimes
from .environment import EnvValueError, env_value

ROOT = Path(__file__).resolve().parents[2]  # the repository: config/, themes/
DEFAULT_FILE = ROOT / "config" / "default.toml"
DEFAULT_SECRET = "insecure-default-change-me"  # noqa: S105 - the value we refuse
MODES = ("production", "demo", "debug", "test")
ENV_ALIASES = {"CAS_SECRET_KEY": ("server", "secret_key"), "CAS_DATABASE_URL": ("database", "url")}
# Keys whose relative values are paths, resolved against the file that set them.
PATH_KEYS = {
    ("server", "themes_dir"),
    ("services", "paths"),
    ("http", "ca_bundle"),
    ("passwords", "policies_dir"),
    ("charters", "path"),
    ("ldap", "ca_file"),
    ("profile", "privacy_notice"),
    ("saml", "key_file"),
    ("saml", "cert_file"),
    ("saml", "encryption_key_file"),
    ("saml", "encryption_cert_file"),
    ("saml", "next_key_file"),
    ("saml", "next_cert_file"),
    ("saml", "metadata_key_file"),
    ("saml", "metadata_cert_file"),
    ("saml", "metadata_cache_dir"),
    ("saml", "sp_files"),
}
# Lists of tables whose listed keys are paths ([[saml.federations]] cert_file).
NESTED_PATH_KEYS = {("saml", "federations"): ("cert_file",)}


class ConfigError(ValueError):
    def __init__(self, key: str, message: str, *, variable: bool = False) -> None:
        # ``variable``: ``key`` names the environment variable that set the value.
        super().__init__(
            f"{'environment variable' if variable else 'configuration key'} {key}: {message}"
        )
        self.key = key


def _resolve(section: str, key: str, value: Any, base: Path) -> Any:
    nested = NESTED_PATH_KEYS.get((section, key))
    if nested and isinstance(value, list):
        return [
            {
                k: str((base / v).resolve()) if k in nested and isinstance(v, str) and v else v
                for k, v in entry.items()
            }
            if isinstance(entry, dict)
            else entry
            for entry in value
        ]
    if (section, key) in PATH_KEYS:
        if isinstance(value, list):
            return [str((base / v).resolve()) if isinstance(v, str) else v for v in value]
        if isinstance(value, str) and value:
            return str((base / value).resolve())
    if (section, key) == ("database", "url") and isinstance(value, str):
        return _resolve_sqlite(value, base)
    return value


def _resolve_sqlite(url: str, base: Path) -> str:
    """``sqlite:///relative.db`` is made relative to the config file, not to the cwd."""
    try:
        parsed = make_url(url)
    except Exception:
        return url
    db = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not Path(db).is_absolute()
    ):
        return parsed.set(database=str((base / db).resolve())).render_as_string(hide_password=False)
    return url


def _merge_file(data: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("CAS_SERVER_CONFIG", f"no such file {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(section, f"in {path}: expected a [{section}] table")
        target = data.setdefault(section, {})
        for key, value in values.items():
            target[key] = _resolve(section, key, value, path.parent)


def load_raw(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    environ = os.environ if environ is None else environ
    data: dict[str, dict[str, Any]] = {}
    _merge_file(data, DEFAULT_FILE)
    # The defaults are the schema of the CAS_* variables (their keys and types).
    schema = {section: dict(values) for section, values in data.items()}
    path = path or environ.get("CAS_SERVER_CONFIG")
    if path:
        _merge_file(data, Path(path).resolve())
    cwd = Path.cwd()
    for name, raw in environ.items():
        if name in ENV_ALIASES:
            section, key = ENV_ALIASES[name]
        elif name.startswith("CAS_") and "__" in name:
            section, _, key = name[4:].lower().partition("__")
        else:
            continue
        if key not in schema.get(section, {}):
            raise ConfigError(
                name,
                f"no key [{section}] {key} in config/default.toml "
                "(CAS_<SECTION>__<KEY> sets one of its keys)",
                variable=True,
            )
        try:
            value = env_value(raw, section, key, schema[section][key])
        except EnvValueError as exc:
            raise ConfigError(name, str(exc), variable=True) from exc
        data.setdefault(section, {})[key] = _resolve(section, key, value, cwd)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return data


@dataclass(frozen=True)
class LoginSettings:
    public_idle_timeout: float
    private_idle_timeout: float
    remember_me: bool
    max_failures_per_login: int
    max_failures_per_ip: int
    failure_window: float
    lock_seconds: float
    # The server's own pages (profile, console): a session opened from an SSO
    # sign-in lasts at most this long after that sign-in, used or not.
    console_max_age: float = 28800.0
    # Rising lockouts (#16): each further lock of a login or an address lasts
    # the next step (capped at the last); empty: every lock is lock_seconds.
    lock_steps: tuple[float, ...] = ()
    lock_level_memory: float = 86400.0  # a level is forgotten this long after its lock
    # Spraying: this many distinct logins failing from one address within the
    # window lock the address for every login (0: not counted).
    max_logins_per_ip: int = 0

    @property
    def first_lock(self) -> float:
        return self.lock_steps[0] if self.lock_steps else self.lock_seconds


@dataclass(frozen=True)
class Settings:
    mode: str
    secret_key: str
    public_url: str
    institution_name: str
    trusted_proxies: int
    fast_path: bool
    default_theme: str
    themes_dir: Path
    default_language: str
    languages: tuple[str, ...]
    database_url: str
    database_echo: bool
    database_pool_size: int
    lifetimes: TicketLifetimes
    tgc_name: str
    # None ("auto"): Secure when the public URL is https, else as the request came.
    cookie_secure: bool | None
    bcrypt_cost: int
    ca_bundle: str | None
    connect_timeout: float
    read_timeout: float
    single_logout_workers: int
    service_paths: tuple[Path, ...]
    password_policy: str
    policies_dir: Path
    charters_path: Path | None
    login: LoginSettings
    raw: Mapping[str, Mapping[str, Any]]
    # [services] cas2_attributes: the default of the per-service key (CAS 2.0
    # endpoints carry the /p3 attributes block).
    cas2_attributes: bool = False

    @property
    def testing(self) -> bool:
        return self.mode == "test"

    @property
    def https_public_url(self) -> bool:
        return self.public_url.startswith("https://")

    def secure_cookies(self, request_is_secure: bool) -> bool:
        """Whether cookies get ``Secure`` (TGC, session, warn and language cookies).

        With ``"auto"``, an https public URL decides: behind a proxy that ends
        TLS the request looks like plain HTTP (``trusted_proxies = 0``), yet
        browsers only ever reach the server over HTTPS.
        """
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.https_public_url or request_is_secure

    def hsts(self, request_is_secure: bool) -> bool:
        """Whether responses carry Strict-Transport-Security (Flask views and fast path).

        ``[cookies] secure = false`` (development) keeps it off unless the
        request itself came over HTTPS.
        """
        return request_is_secure or (self.https_public_url and self.cookie_secure is not False)


def _get(
    data: Mapping[str, Mapping[str, Any]], section: str, key: str, kind: type | tuple[type, ...]
) -> Any:
    try:
        value = data[section][key]
    except KeyError as exc:
        raise ConfigError(f"{section}.{key}", "missing") from exc
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{section}.{key}", "must not be a boolean")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{section}.{key}", f"must be a {names}, got {value!r}")
    return value


def _positive(data: Mapping[str, Mapping[str, Any]], section: str, key: str) -> float:
    value = float(_get(data, section, key, (int, float)))
    if value <= 0:
        raise ConfigError(f"{section}.{key}", "must be greater than 0")
    return value


def _lock_steps(data: Mapping[str, Mapping[str, Any]]) -> tuple[float, ...]:
    """``[login] lock_steps``: seconds, each > 0 and none shorter than the one before."""
    steps = _get(data, "login", "lock_steps", list)
    if len(steps) > 32 or not all(
        isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in steps
    ):
        raise ConfigError("login.lock_steps", "must be a list of at most 32 numbers of seconds > 0")
    if any(b < a for a, b in itertools.pairwise(steps)):
        raise ConfigError("login.lock_steps", "each step must last at least the one before")
    return tuple(float(s) for s in steps)


def _count(data: Mapping[str, Mapping[str, Any]], section: str, key: str) -> int:
    value = _get(data, section, key, int)
    if value < 0:
        raise ConfigError(f"{section}.{key}", "must be 0 or more")
    return int(value)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    data = load_raw(path, environ, overrides)
    mode = _get(data, "server", "mode", str)
    if mode not in MODES:
        raise ConfigError("server.mode", f"one of {', '.join(MODES)}")
    secret = _get(data, "server", "secret_key", str)
    if mode == "production" and (secret == DEFAULT_SECRET or len(secret) < 32):
        raise ConfigError(
            "server.secret_key",
            "set a random secret of at least 32 characters (CAS_SECRET_KEY) before running in "
            'production, e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"',
        )
    languages = tuple(_get(data, "i18n", "languages", list))
    default_language = _get(data, "i18n", "default_language", str)
    if not languages or default_language not in languages:
        raise ConfigError("i18n.default_language", f"must be one of {languages}")
    timezone = data["i18n"].get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError("i18n.timezone", f"unknown time zone {timezone!r}") from exc
    cost = _get(data, "passwords", "bcrypt_cost", int)
    if not 4 <= cost <= 31:
        raise ConfigError("passwords.bcrypt_cost", "must be between 4 and 31")
    if mode == "production" and cost < 10:
        raise ConfigError("passwords.bcrypt_cost", "must be at least 10 in production")
    secure = data["cookies"].get("secure", "auto")
    if secure not in ("auto", True, False):
        raise ConfigError("cookies.secure", 'must be "auto", true or false')
    url = _get(data, "database", "url", str)
    try:
        make_url(url)
    except Exception as exc:
        raise ConfigError("database.url", f"not a database URL: {exc}") from exc
    public_url = _get(data, "server", "public_url", str).rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise ConfigError("server.public_url", "must be an absolute http(s) URL")
    lifetimes = TicketLifetimes(
        service_ticket=_positive(data, "tickets", "service_ticket_ttl"),
        proxy_ticket=_positive(data, "tickets", "proxy_ticket_ttl"),
        proxy_granting_ticket=_positive(data, "tickets", "proxy_granting_ticket_ttl"),
        tgt_idle=_positive(data, "tickets", "tgt_idle_timeout"),
        tgt_hard=_positive(data, "tickets", "tgt_hard_timeout"),
        tgt_long_term=_positive(data, "tickets", "tgt_long_term_timeout"),
    )
    ca_bundle = _get(data, "http", "ca_bundle", str) or None
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ConfigError("http.ca_bundle", f"no such file {ca_bundle}")
    return Settings(
        mode=mode,
        secret_key=secret,
        public_url=public_url,
        institution_name=_get(data, "server", "institution_name", str),
        trusted_proxies=_get(data, "server", "trusted_proxies", int),
        fast_path=_get(data, "server", "fast_path", bool),
        default_theme=_get(data, "server", "default_theme", str),
        themes_dir=Path(_get(data, "server", "themes_dir", str)),
        default_language=default_language,
        languages=languages,
        database_url=url,
        database_echo=_get(data, "database", "echo", bool),
        database_pool_size=_get(data, "database", "pool_size", int),
        lifetimes=lifetimes,
        tgc_name=_get(data, "cookies", "tgc_name", str),
        cookie_secure=None if secure == "auto" else bool(secure),
        bcrypt_cost=cost,
        ca_bundle=ca_bundle,
        connect_timeout=_positive(data, "http", "connect_timeout"),
        read_timeout=_positive(data, "http", "read_timeout"),
        single_logout_workers=int(_positive(data, "http", "single_logout_workers")),
        service_paths=tuple(Path(p) for p in _get(data, "services", "paths", list)),
        password_policy=_get(data, "passwords", "policy", str),
        policies_dir=Path(_get(data, "passwords", "policies_dir", str)),
        charters_path=Path(charters) if (charters := _get(data, "charters", "path", str)) else None,
        login=LoginSettings(
            public_idle_timeout=_positive(data, "login", "public_idle_timeout"),
            private_idle_timeout=_positive(data, "login", "private_idle_timeout"),
            remember_me=_get(data, "login", "remember_me", bool),
            max_failures_per_login=int(_positive(data, "login", "max_failures_per_login")),
            max_failures_per_ip=int(_positive(data, "login", "max_failures_per_ip")),
            failure_window=_positive(data, "login", "failure_window_seconds"),
            lock_seconds=_positive(data, "login", "lock_seconds"),
            console_max_age=_positive(data, "login", "console_max_age"),
            lock_steps=_lock_steps(data),
            lock_level_memory=_positive(data, "login", "lock_level_memory"),
            max_logins_per_ip=_count(data, "login", "max_logins_per_ip"),
        ),
        raw=data,
        cas2_attributes=_get(data, "services", "cas2_attributes", bool),
    )
