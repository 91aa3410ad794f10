"""Fixtures of the SAML binding tests: an identity provider on test keys, a pysaml2 SP.

The clock is a FakeClock set to the real time: pysaml2's SP checks validity against
the real clock, our side against the fake one (advanced by the tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cas_server.saml.idp import SamlIdentityProvider, build_identity_provider
from cas_server.settings.saml import FederationSource, KeyPair, SamlSettings
from tests.support.fakes import FakeClock
from tests.support.saml_keys import key_pair, sp_client, write_sp_metadata

IDP_URL = "https://idp.example.org"
IDP_ENTITY = f"{IDP_URL}/idp/metadata"
SP = "https://sp.example.org/sp"
ACS = "https://sp.example.org/acs"
SLO = "https://sp.example.org/slo"
FEDERATION_URL = "https://federation.example.org/metadata.xml"


def pair(name: str) -> KeyPair:
    keys = key_pair(name)
    return KeyPair(keys.key_file, keys.cert_file)


class FakeHttp:
    """``http_get`` that serves what the test put in ``documents`` (or raises)."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes | Exception] = {}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, url: str, max_size: int) -> bytes:
        self.calls.append((url, max_size))
        found = self.documents.get(url, ConnectionError("no route to host"))
        if isinstance(found, Exception):
            raise found
        return found


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def http() -> FakeHttp:
    return FakeHttp()


@pytest.fixture
def sp_file(tmp_path: Path) -> Path:
    return write_sp_metadata(tmp_path / "sp" / "sp.xml", SP, ACS, slo_url=SLO)


@pytest.fixture
def make_settings(tmp_path: Path, sp_file: Path) -> Callable[..., SamlSettings]:
    def make(**changes: Any) -> SamlSettings:
        values: dict[str, Any] = {
            "enabled": True,
            "entity_id": IDP_ENTITY,
            "signing": pair("idp"),
            "encryption": pair("idp-encryption"),
            "next_signing": pair("idp-next"),
            "metadata_signing": pair("idp-metadata"),
            "scope": "example.org",
            "salt": b"s" * 32,
            "metadata_cache_dir": str(tmp_path / "cache"),
            "sp_files": (str(sp_file),),
            "display_name": {"fr": "Université d'Exemple", "en": "Example University"},
            "organization_url": "https://www.example.org/",
            "technical_contact": "saml-admin@example.org",
            "support_contact": "help@example.org",
            "federations": (
                FederationSource(
                    "test-federation", FEDERATION_URL, key_pair("federation").cert_file
                ),
            ),
        }
        values.update(changes)
        return SamlSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., SamlSettings]) -> SamlSettings:
    return make_settings()


@pytest.fixture
def idp(settings: SamlSettings, http: FakeHttp, clock: FakeClock) -> Iterator[SamlIdentityProvider]:
    provider = build_identity_provider(settings, http, clock, public_url=IDP_URL, background=False)
    yield provider
    provider.sources.stop()


@pytest.fixture
def sp(idp: SamlIdentityProvider) -> Any:
    """The pysaml2 SP of ``sp_file``, trusting our metadata."""
    return sp_client(SP, ACS, idp.metadata_xml(), slo_url=SLO)
