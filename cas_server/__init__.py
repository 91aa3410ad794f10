"""A CAS single sign-on server with a self-service account module.

:func:`create_app` is the only place that wires the layers together.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

__version__ = "0.2.0"


def create_app(
    config_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the server: configuration, stores, user sources, protocol core, blueprints."""
    from .accounts.mfa.sealing import RECOVERY_CODES_PURPOSE, Sealer, derive_key
    from .accounts.mfa.service import MfaService
    from .accounts.passwords import PasswordService
    from .accounts.throttle import Limit, Throttle
    from .auth.hashing import hash_password, verify_password
    from .auth.local import LocalUserSource
    from .observability.audit import AuditTrail
    from .observability.metrics import MeteredValidator
    from .outbound.http import HttpClient, SingleLogoutNotifier
    from .protocol.cas.login import LoginService
    from .protocol.cas.ports import SystemClock
    from .runtime.container import Container
    from .runtime.infrastructure import build_infrastructure
    from .runtime.lock_lift import LiftLocksOnPasswordWrite
    from .runtime.password_notices import PasswordNotices
    from .runtime.themes import Themes
    from .settings.charters import load_charters
    from .settings.infrastructure import load_infra_settings
    from .settings.mfa import load_mfa_settings
    from .settings.policies import load_policy
    from .settings.saml import load_saml_settings
    from .settings.server import load_settings
    from .settings.services import load_registry
    from .settings.sessions import load_sessions_settings
    from .storage.sql.accounts import SqlAccountRepository
    from .storage.sql.db import make_engine
    from .storage.sql.mfa import SqlMfaStore
    from .storage.sql.saml import SqlConsentStore, SqlSamlSessionStore
    from .web import console_auth, dates, i18n, ops, security, theming
    from .web import saml as saml_web
    from .web.admin.gate import console_service
    from .web.application import CasFlask
    from .web.cas import login as cas
    from .web.cas import login_flow, validate
    from .web.cas.fast_path import FastPath

    settings = load_settings(config_path, environ, overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    app = CasFlask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        DEBUG=settings.mode == "debug",
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_NAME="cas_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(
            settings.public_url.startswith("https://")
            if settings.cookie_secure is None
            else settings.cookie_secure
        ),
        WTF_CSRF_TIME_LIMIT=3600,
        WTF_CSRF_SSL_STRICT=False,  # the Referer is never sent (Referrer-Policy: no-referrer)
        BABEL_DEFAULT_LOCALE=settings.default_language,
        BABEL_DEFAULT_TIMEZONE=settings.raw["i18n"].get("timezone", "UTC"),
        BABEL_TRANSLATION_DIRECTORIES=os.path.join(os.path.dirname(__file__), "translations"),
    )

    engine = make_engine(
        settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size
    )
    clock = SystemClock()
    # The SAML 2.0 identity provider (#18): its sign-ins come back to two built-in services.
    saml_settings = load_saml_settings(
        settings.raw, public_url=settings.public_url, mode=settings.mode
    )
    built_in = [console_auth.internal_service(settings), console_service(settings)]
    if saml_settings.enabled:
        built_in += saml_web.internal_services(settings)
    registry = load_registry(
        settings.service_paths, built_in, cas2_attributes=settings.cas2_attributes
    )
    accounts = SqlAccountRepository(engine)
    # Ticket and counter backends (SQL or Redis), user sources (local, LDAP).
    infra = build_infrastructure(
        load_infra_settings(settings.raw),
        engine,
        accounts,
        LocalUserSource(accounts, settings.bcrypt_cost),
    )
    tickets = infra.tickets
    assert infra.sessions is not None  # built beside the ticket store
    http = HttpClient(settings.ca_bundle, settings.connect_timeout, settings.read_timeout)
    themes = Themes(settings.themes_dir, settings.default_theme)
    policy = load_policy(settings.policies_dir, settings.password_policy)
    counters = infra.counters
    login_limits = settings.login
    mfa_settings = load_mfa_settings(
        settings.raw, mode=settings.mode, institution_name=settings.institution_name
    )
    if mfa_settings.enabled and mfa_settings.stand_in_key and settings.mode != "test":
        logging.getLogger(__name__).warning(
            "[mfa] encryption_keys is empty: TOTP secrets are sealed with a public "
            "stand-in key (%s mode only)",
            settings.mode,
        )
    mfa_rules = mfa_settings.rules
    if settings.raw.get("sms", {}).get("backend", "none") == "none":
        mfa_rules = dataclasses.replace(mfa_rules, sms_codes=False)  # no SMS can be sent
    # The recovery codes' HMAC key: derived from the encryption key with its own label,
    # never the Flask secret; the older keys still recognise the codes they keyed.
    recovery_keys = [derive_key(k, RECOVERY_CODES_PURPOSE) for k in mfa_settings.encryption_keys]
    login_throttle = Throttle(
        counters,
        Limit(
            login_limits.max_failures_per_login,
            login_limits.failure_window,
            login_limits.first_lock,
            steps=login_limits.lock_steps,  # rising lockouts
            memory=login_limits.lock_level_memory,
        ),
        "login",
    )
    saml_idp = None
    if saml_settings.enabled:
        if saml_settings.stand_in_salt and settings.mode != "test":
            logging.getLogger(__name__).warning(
                "[saml] salt is empty: pairwise and persistent identifiers use a public "
                "stand-in salt (%s mode only)",
                settings.mode,
            )
        from .saml.idp import build_identity_provider  # pysaml2: only when enabled

        # Files and cached aggregates loaded now (no network); aggregates then refreshed
        # in the background, except in tests (which call refresh themselves).
        saml_idp = build_identity_provider(
            saml_settings,
            http,
            clock,
            public_url=settings.public_url,
            background=not settings.testing,
        )
    app.extensions["cas"] = Container(
        settings=settings,
        engine=engine,
        clock=clock,
        services=registry,
        tickets=tickets,
        accounts=accounts,
        user_source=infra.user_source,
        login=LoginService(registry, tickets, clock, settings.lifetimes),
        validator=MeteredValidator(
            registry, tickets, clock, settings.lifetimes, http.proxy_callback
        ),
        http=http,
        single_logout=SingleLogoutNotifier(http, settings.single_logout_workers, registry),
        audit=AuditTrail(engine),
        themes=themes,
        passwords=PasswordService(
            policy,
            accounts,
            lambda password: hash_password(password, settings.bcrypt_cost),
            verify_password,
            infra.directories,
            LiftLocksOnPasswordWrite(login_throttle, PasswordNotices()),  # lifts the locks
        ),
        charters=load_charters(settings.charters_path),
        counters=counters,
        login_throttle=login_throttle,
        ip_throttle=Throttle(
            counters,
            Limit(
                login_limits.max_failures_per_ip,
                login_limits.failure_window,
                login_limits.first_lock,
                steps=login_limits.lock_steps,
                memory=login_limits.lock_level_memory,
                distinct=login_limits.max_logins_per_ip or None,  # password spraying
            ),
            "ip",
        ),
        mfa=MfaService(
            SqlMfaStore(engine),
            Sealer(mfa_settings.encryption_keys),
            mfa_rules,
            clock,
            recovery_keys[0],
            mfa_settings.issuer,
            old_recovery_keys=recovery_keys[1:],
        ),
        infra=infra,
        sessions=infra.sessions,
        sessions_settings=load_sessions_settings(settings.raw),
        saml=saml_idp,
        saml_sessions=SqlSamlSessionStore(engine) if saml_idp is not None else None,
        saml_consents=SqlConsentStore(engine) if saml_idp is not None else None,
    )

    theming.init_app(app, themes)
    i18n.init_app(app)
    dates.init_app(app)  # dates in words, in [i18n] timezone (after Babel's filters)
    security.init_app(app)
    ops.init_app(app, infra)
    app.register_blueprint(cas.bp)
    app.register_blueprint(login_flow.bp)
    console_auth.init_app(app)
    app.register_blueprint(validate.bp)

    @app.get("/")
    def index() -> Any:
        from flask import redirect, url_for

        return redirect(url_for("cas.login"))

    from .web import sesame

    sesame.init_app(app)  # Sésame self-service pages
    from .web import profile

    profile.init_app(app)  # profile page (/profile), on Sésame's mail, SMS and tokens
    from .web import admin as admin_console

    admin_console.init_app(app)  # administration console (/admin)
    if saml_idp is not None:
        saml_web.init_app(app)  # SAML 2.0 identity provider (/idp)
    if settings.fast_path:
        # Validation and SSO ticket issue, answered before Flask's request machinery.
        app.wsgi_app = FastPath(app.wsgi_app, app.extensions)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Outermost: every path sees the client's address and scheme.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]
    return app
