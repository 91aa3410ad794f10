"""``cas-server saml …``: the SAML 2.0 identity provider's metadata sources and keys.

``refresh`` fetches and verifies the federation aggregates now (the running servers
pick the new cache copy up within a minute); ``sps`` lists the service providers
with the release policy each gets; ``keygen`` makes a self-signed signing or
encryption pair (SAML trusts keys through metadata, not through a CA).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..runtime.container import container
from ..saml.idp import SamlIdentityProvider
from ..saml.metadata import SourceStatus


@click.group("saml", help="SAML 2.0 identity provider: metadata sources, SPs, keys.")
def saml_group() -> None:
    pass


def _identity_provider() -> SamlIdentityProvider:
    found = container().saml
    if found is None:
        raise click.ClickException("the SAML identity provider is off ([saml] enabled = false)")
    return found


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _line(status: SourceStatus) -> str:
    state = "ok" if status.ok else "FAILED"
    line = (
        f"{status.kind} {status.name}: {state}, {status.entities} SP(s), "
        f"last success {_when(status.last_success)}, valid until {_when(status.valid_until)}"
    )
    return f"{line}: {status.error}" if status.error else line


@saml_group.command(
    "refresh", help="Fetch and verify the federation aggregates; exit 1 if one failed."
)
@click.option("--source", "name", default=None, help="Only this federation (its name).")
@with_appcontext
def saml_refresh(name: str | None) -> None:
    idp = _identity_provider()
    try:
        statuses = idp.sources.refresh(name)
    except KeyError:
        known = ", ".join(f.name for f in idp.settings.federations) or "none"
        raise click.BadParameter(f"no federation named {name!r} (known: {known})") from None
    for status in statuses:
        click.echo(_line(status))
    if not statuses:
        click.echo("no SAML metadata source configured")
    if any(not s.ok for s in statuses):
        raise SystemExit(1)


@saml_group.command("sps", help="List the service providers and their release policy.")
@click.option("--source", "name", default=None, help="Only this source (federation name or file).")
@with_appcontext
def saml_sps(name: str | None) -> None:
    idp = _identity_provider()
    for status in idp.sources.status():
        click.echo(f"# {_line(status)}")
    count = 0
    for provider in idp.service_providers():
        source = provider.source.partition(":")[2]
        if name is not None and name not in (source, provider.source):
            continue
        policy = idp.settings.rules.describe(provider)
        click.echo(f"{provider.entity_id}\t{provider.name}\t{provider.source}\t{policy}")
        count += 1
    click.echo(f"{count} service provider(s)")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@saml_group.command("keygen", help="Make a self-signed key pair (DIR/NAME.key, DIR/NAME.crt).")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--bits", default=3072, show_default=True, type=click.IntRange(2048, 8192))
@click.option("--name", default="saml-signing", show_default=True, help="File name stem.")
@click.option("--cn", "common_name", default=None, help="Subject CN (default: the host name).")
@click.option("--days", default=3650, show_default=True, type=click.IntRange(1, 36500))
def saml_keygen(directory: Path, bits: int, name: str, common_name: str | None, days: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise click.BadParameter("a plain file name stem", param_hint="--name")
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    for path in (key_path, cert_path):
        if path.exists():
            raise click.ClickException(f"{path} exists: not overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, (common_name or os.uname().nodename)[:64])]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    click.echo(f"{key_path}\n{cert_path}")
    click.echo(f"RSA {bits} bits, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
