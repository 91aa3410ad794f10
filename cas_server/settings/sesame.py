"""The ``[sesame]``, ``[mail]``, ``[sms]`` and ``[captcha]`` sections, checked once at start.

Like :mod:`cas_server.settings.server`: a wrong value stops the start with the key
at fault. Secrets (SMTP and SMS gateway passwords) come from the
environment: ``CAS_MAIL__PASSWORD``, ``CAS_SMS__PASSWORD``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..accounts.identity import IdentifierKind
from ..accounts.joker import QUESTIONS
from ..accounts.recovery import ORGANISATION_TYPES
from ..accounts.tokens import TokenSettings
from .server import ROOT, ConfigError

PASSWORD_PATHS = ("joker", "email", "sms", "temporary", "facts")
CAPTCHA_FORMS = (
    "password_email",
    "password_sms",
    "password_temporary",
    "password_facts",
    "password_joker",
    "identifier",
    "activation",
    "help_request",  # [help_requests] (#16)
    "registration",  # [registration] (#16)
)
Raw = Mapping[str, Mapping[str, Any]]


def _section(data: Raw, name: str) -> Mapping[str, Any]:
    section = data.get(name)
    if not isinstance(section, Mapping):
        raise ConfigError(name, f"missing [{name}] section")
    return section


def _value(section: Mapping[str, Any], name: str, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in section:
        raise ConfigError(f"{name}.{key}", "missing")
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{name}.{key}", "must not be a boolean")
    if not isinstance(value, kinds):
        raise ConfigError(f"{name}.{key}", f"has the wrong type: {value!r}")
    return value


def _seconds(section: Mapping[str, Any], name: str, key: str, maximum: float) -> float:
    value = float(_value(section, name, key, (int, float)))
    if not 0 < value <= maximum:
        raise ConfigError(f"{name}.{key}", f"must be between 1 and {int(maximum)} seconds")
    return value


def _count(section: Mapping[str, Any], name: str, key: str, low: int = 1) -> int:
    value = int(_value(section, name, key, int))
    if value < low:
        raise ConfigError(f"{name}.{key}", f"must be at least {low}")
    return value


def _choices(
    section: Mapping[str, Any], name: str, key: str, allowed: Any, empty_ok: bool = True
) -> tuple[str, ...]:
    values = _value(section, name, key, list)
    bad = [v for v in values if v not in allowed]
    if bad or (not values and not empty_ok):
        raise ConfigError(f"{name}.{key}", f"must be a list among {', '.join(map(str, allowed))}")
    return tuple(str(v) for v in values)


def _one_of(section: Mapping[str, Any], name: str, key: str, allowed: tuple[str, ...]) -> str:
    value = str(_value(section, name, key, str))
    if value not in allowed:
        raise ConfigError(f"{name}.{key}", f"must be one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class MailSettings:
    backend: str  # smtp | console
    host: str
    port: int
    security: str  # none | starttls | ssl
    username: str
    password: str
    from_address: str
    from_name: str
    timeout: float
    workers: int
    console_dir: Path | None


@dataclass(frozen=True)
class SmsSettings:
    backend: str  # none | http | console
    url: str
    username: str
    password: str
    token: str
    body_template: str
    content_type: str
    timeout: float
    workers: int
    daily_budget: int
    max_length: int

    @property
    def enabled(self) -> bool:
        return self.backend != "none"


@dataclass(frozen=True)
class CaptchaSettings:
    enabled: bool
    forms: tuple[str, ...]
    length: int

    def required_on(self, form: str) -> bool:
        return self.enabled and form in self.forms


@dataclass(frozen=True)
class Limits:
    per_account: int  # mails or SMS per account per window (T8)
    per_ip: int  # requests per address per window
    per_destination: int  # mails or SMS per address or phone per window
    window: float
    joker_attempts: int  # wrong answers per account / per address (T12)
    joker_window: float


@dataclass(frozen=True)
class SesameSettings:
    enabled: bool
    identifier_kinds: tuple[IdentifierKind, ...]
    activation: bool
    activation_by_code: bool
    activation_proof: bool
    activation_channels: tuple[str, ...]
    identifier_recovery: bool
    identifier_on_screen: bool
    password_paths: tuple[str, ...]
    reset_requires_charter: bool
    temporary_password_ttl: float
    joker_questions: tuple[str, ...]
    organisation_types: tuple[str, ...]
    default_country: str
    help_contact: str
    tokens: TokenSettings
    limits: Limits
    mail: MailSettings
    sms: SmsSettings
    captcha: CaptchaSettings

    def path_enabled(self, path: str) -> bool:
        if not self.enabled or path not in self.password_paths:
            return False
        return path != "sms" or self.sms.enabled


def _mail(data: Raw) -> MailSettings:
    s = _section(data, "mail")
    console_dir = str(_value(s, "mail", "console_dir", str))
    path = Path(console_dir) if console_dir else None
    if path is not None and not path.is_absolute():
        path = (ROOT / "config" / path).resolve()
    return MailSettings(
        backend=_one_of(s, "mail", "backend", ("smtp", "console")),
        host=str(_value(s, "mail", "host", str)),
        port=_count(s, "mail", "port"),
        security=_one_of(s, "mail", "security", ("none", "starttls", "ssl")),
        username=str(_value(s, "mail", "username", str)),
        password=str(_value(s, "mail", "password", str)),
        from_address=str(_value(s, "mail", "from_address", str)),
        from_name=str(_value(s, "mail", "from_name", str)),
        timeout=_seconds(s, "mail", "timeout", 300),
        workers=_count(s, "mail", "workers"),
        console_dir=path,
    )


def _sms(data: Raw) -> SmsSettings:
    s = _section(data, "sms")
    settings = SmsSettings(
        backend=_one_of(s, "sms", "backend", ("none", "http", "console")),
        url=str(_value(s, "sms", "url", str)),
        username=str(_value(s, "sms", "username", str)),
        password=str(_value(s, "sms", "password", str)),
        token=str(_value(s, "sms", "token", str)),
        body_template=str(_value(s, "sms", "body_template", str)),
        content_type=str(_value(s, "sms", "content_type", str)),
        timeout=_seconds(s, "sms", "timeout", 120),
        workers=_count(s, "sms", "workers"),
        daily_budget=_count(s, "sms", "daily_budget", 0),
        max_length=_count(s, "sms", "max_length", 70),
    )
    if settings.backend == "http":
        if not settings.url.startswith(("https://", "http://")):
            raise ConfigError("sms.url", 'an http(s) URL is required with backend = "http"')
        if "{to}" not in settings.body_template or "{message}" not in settings.body_template:
            raise ConfigError("sms.body_template", "must contain {to} and {message}")
    return settings


def load_sesame_settings(data: Raw) -> SesameSettings:
    s = _section(data, "sesame")
    name = "sesame"
    c = _section(data, "captcha")
    captcha = CaptchaSettings(
        enabled=bool(_value(c, "captcha", "enabled", bool)),
        forms=_choices(c, "captcha", "forms", CAPTCHA_FORMS),
        length=_count(c, "captcha", "length", 4),
    )
    kinds = _choices(s, name, "identifier_kinds", [k.value for k in IdentifierKind], False)
    link_ttl = _seconds(s, name, "link_ttl", 86400)
    code_ttl = _seconds(s, name, "code_ttl", 1800)
    country = str(_value(s, name, "default_country", str)).upper()
    if len(country) != 2 or not country.isalpha():
        raise ConfigError(f"{name}.default_country", "an ISO 3166 two-letter code such as FR")
    return SesameSettings(
        enabled=bool(_value(s, name, "enabled", bool)),
        identifier_kinds=tuple(IdentifierKind(k) for k in kinds),
        activation=bool(_value(s, name, "activation", bool)),
        activation_by_code=bool(_value(s, name, "activation_by_code", bool)),
        activation_proof=bool(_value(s, name, "activation_proof", bool)),
        activation_channels=_choices(s, name, "activation_channels", ("email", "sms"), False),
        identifier_recovery=bool(_value(s, name, "identifier_recovery", bool)),
        identifier_on_screen=bool(_value(s, name, "identifier_on_screen", bool)),
        password_paths=_choices(s, name, "password_paths", PASSWORD_PATHS),
        reset_requires_charter=bool(_value(s, name, "reset_requires_charter", bool)),
        temporary_password_ttl=_seconds(s, name, "temporary_password_ttl", 7 * 86400),
        joker_questions=_choices(s, name, "joker_questions", tuple(QUESTIONS), False),
        organisation_types=_choices(
            s, name, "organisation_types", tuple(ORGANISATION_TYPES), False
        ),
        default_country=country,
        help_contact=str(_value(s, name, "help_contact", str)),
        tokens=TokenSettings(
            link_ttl=link_ttl,
            code_ttl=code_ttl,
            grant_ttl=_seconds(s, name, "grant_ttl", 3600),
            code_attempts=_count(s, name, "code_max_attempts"),
        ),
        limits=Limits(
            per_account=_count(s, name, "max_requests_per_account"),
            per_ip=_count(s, name, "max_requests_per_ip"),
            per_destination=_count(s, name, "max_requests_per_destination"),
            window=_seconds(s, name, "request_window", 7 * 86400),
            joker_attempts=_count(s, name, "joker_max_attempts"),
            joker_window=_seconds(s, name, "joker_window", 86400),
        ),
        mail=_mail(data),
        sms=_sms(data),
        captcha=captcha,
    )
