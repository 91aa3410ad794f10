"""The ``cas-server`` command: a Flask CLI group over :func:`cas_server.create_app`.

One module per command group; this one puts them together. The application
factory knows nothing of the command line: the command builds the
application, never the other way round.

| module | commands |
|---|---|
| ``db`` | ``db init``, ``upgrade``, ``status``, ``backup``, ``restore`` |
| ``users`` | ``users add``, ``set-password``, ``show``, ``search``, ``import``, ``reindex`` |
| ``access`` | the console's actions under ``users``: ``lock``, ``send-reset``, ``roles``… |
| ``services`` | ``services check`` |
| ``tickets`` | ``tickets purge``, ``purge`` |
| ``audit`` | ``audit purge``, ``audit export`` |
| ``ldap`` | ``ldap sync`` |
| ``mfa`` | ``mfa import-totp``, ``reseal``, ``show``, ``remove`` (second factors) |
| ``demo`` | ``demo`` |
| ``saml`` | ``saml refresh``, ``sps``, ``keygen`` (SAML 2.0 identity provider) |
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException

from . import access  # noqa: F401  (adds the console's actions to `users`)
from .audit import audit_group
from .db import db_group
from .demo import demo
from .ldap import ldap_group
from .mfa import mfa_group
from .saml import saml_group
from .services import services_group
from .tickets import purge, tickets_group
from .users import users_group

COMMANDS: tuple[click.Command, ...] = (
    db_group,
    users_group,
    services_group,
    tickets_group,
    purge,
    demo,
    audit_group,
    ldap_group,
    mfa_group,
    saml_group,
)


def _create_app() -> Flask:
    from .. import create_app
    from ..settings.server import ConfigError
    from ..settings.services import ServiceDefinitionError

    try:
        return create_app()
    except (ConfigError, ServiceDefinitionError) as exc:
        # Flask prints this message alone, without a traceback.
        raise NoAppException(f"cannot start: {exc}") from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """CAS server administration (configuration from CAS_SERVER_CONFIG)."""


for _command in COMMANDS:
    main.add_command(_command)
