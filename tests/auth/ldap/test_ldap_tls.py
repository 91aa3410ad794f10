"""StartTLS and LDAPS with a CA file, against slapd with a throwaway certificate (trustme)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from cas_server import create_app
from cas_server.auth import Success, Unavailable
from tests.auth.ldap.conftest import ldap_settings
from tests.support.app import test_overrides
from tests.support.ports import free_port
from tests.support.servers import LdapServer, running_slapd


@dataclass(frozen=True)
class TlsDirectory:
    server: LdapServer
    ldaps_url: str
    ca_file: Path
    other_ca_file: Path


@pytest.fixture(scope="module")
def tls_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsDirectory]:
    folder = tmp_path_factory.mktemp("ldap-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(folder / "other-ca.pem"))
    ldaps_port = free_port()
    with running_slapd(
        SLAPD_TLS_CERT=str(folder / "cert.pem"),
        SLAPD_TLS_KEY=str(folder / "key.pem"),
        SLAPD_LDAPS_PORT=str(ldaps_port),
    ) as server:
        yield TlsDirectory(
            server, f"ldaps://127.0.0.1:{ldaps_port}", folder / "ca.pem", folder / "other-ca.pem"
        )


def sign_in(db_path: Path, url: str, ca_file: Path, start_tls: bool = False) -> object:
    settings = ldap_settings(url, ca_file=str(ca_file), start_tls=start_tls)
    app = create_app(
        overrides=test_overrides(db_path, auth={"sources": ["ldap"]}, ldap=settings), environ={}
    )
    try:
        return app.extensions["cas"].user_source.authenticate("alice", "alicepass")
    finally:
        app.extensions["cas"].engine.dispose()


def test_start_tls_checks_the_certificate_against_the_ca_file(
    db_path: Path, tls_directory: TlsDirectory
) -> None:
    url = tls_directory.server.url
    assert isinstance(sign_in(db_path, url, tls_directory.ca_file, start_tls=True), Success)
    # A certificate the CA file does not vouch for: unavailable, never a wrong password.
    refused = sign_in(db_path, url, tls_directory.other_ca_file, start_tls=True)
    assert isinstance(refused, Unavailable)


def test_ldaps_checks_the_certificate_against_the_ca_file(
    db_path: Path, tls_directory: TlsDirectory
) -> None:
    url = tls_directory.ldaps_url
    assert isinstance(sign_in(db_path, url, tls_directory.ca_file), Success)
    assert isinstance(sign_in(db_path, url, tls_directory.other_ca_file), Unavailable)
