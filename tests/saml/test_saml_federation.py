"""Federation aggregates: the pinned certificate only, validUntil required and in the
future, the last good copy kept on failure, the cache written atomically and reloaded,
statuses and metrics; local SP files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from cas_server.saml.idp import build_identity_provider
from cas_server.saml.metadata import MetadataSources
from cas_server.settings.saml import FederationSource, SamlSettings
from tests.saml.conftest import FEDERATION_URL, IDP_URL, SP, FakeHttp
from tests.support.fakes import FakeClock
from tests.support.saml_keys import aggregate, key_pair, sp_metadata

FED_SP = "https://fed-sp.example.net/shibboleth"
FED_ACS = "https://fed-sp.example.net/Shibboleth.sso/SAML2/POST"
RS = "http://refeds.org/category/research-and-scholarship"
NAME = "test-federation"


def fed_sp_xml(entity_id: str = FED_SP, acs: str = FED_ACS) -> str:
    return sp_metadata(entity_id, acs, keys="sp2", entity_categories=[RS])


def signed(clock: FakeClock, *entities: str, days: float = 7, **options: object) -> bytes:
    return aggregate(
        list(entities) or [fed_sp_xml()], valid_until=clock.now() + days * 86400, **options
    )


def sources(settings: SamlSettings, http: FakeHttp, clock: FakeClock) -> MetadataSources:
    found = MetadataSources(settings, http, clock)
    found.load()
    return found


def ids(found: MetadataSources) -> set[str]:
    return set(found.store.keys())


def federation_status(found: MetadataSources):  # type: ignore[no-untyped-def]
    return next(s for s in found.status() if s.kind == "federation")


def test_aggregate_signed_by_the_pinned_key_is_accepted(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock)
    found = sources(settings, http, clock)
    assert FED_SP not in ids(found)
    [status] = found.refresh(NAME)
    assert status.ok and status.entities == 1 and status.error is None
    assert status.valid_until == pytest.approx(clock.now() + 7 * 86400, abs=1)
    assert http.calls == [(FEDERATION_URL, 256 * 1024 * 1024)]
    idp = build_identity_provider(settings, http, clock, public_url=IDP_URL, background=False)
    provider = idp.service_provider(FED_SP)
    assert provider is not None
    assert provider.source == f"federation:{NAME}" and provider.categories == (RS,)
    assert {p.entity_id for p in idp.service_providers()} == {SP, FED_SP}


def test_aggregate_signed_as_a_whole_document(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock, by_id=False)
    [status] = sources(settings, http, clock).refresh(NAME)
    assert status.ok and status.entities == 1


def test_signed_aggregate_wrapped_in_an_unsigned_one_is_refused(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    good = signed(clock).decode().split("?>", 1)[1]
    evil = fed_sp_xml("https://evil.example.com/sp", "https://evil.example.com/acs")
    http.documents[FEDERATION_URL] = aggregate(
        [good, evil], valid_until=clock.now() + 86400, signed_by=None
    )
    [status] = sources(settings, http, clock).refresh(NAME)
    assert not status.ok


def test_one_malformed_entity_does_not_drop_the_federation(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    broken = fed_sp_xml("https://broken.example.net/sp").replace(f'Location="{FED_ACS}"', "")
    assert "Location" not in broken.split("AssertionConsumerService")[1]
    http.documents[FEDERATION_URL] = signed(clock, fed_sp_xml(), broken)
    found = sources(settings, http, clock)
    [status] = found.refresh(NAME)
    assert status.ok and status.entities == 1
    assert FED_SP in ids(found) and "https://broken.example.net/sp" not in ids(found)


def test_nested_aggregates_and_idp_entries(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    idp_only = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://other-idp.example.net/idp"><md:IDPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://other-idp.example.net/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
    )
    inner = aggregate([fed_sp_xml("https://inner.example.net/sp")], signed_by=None).decode()
    inner = inner.split("?>", 1)[1]
    http.documents[FEDERATION_URL] = signed(clock, fed_sp_xml(), idp_only, inner)
    found = sources(settings, http, clock)
    [status] = found.refresh(NAME)
    assert status.ok and status.entities == 2
    assert "https://inner.example.net/sp" in ids(found)
    assert "https://other-idp.example.net/idp" not in ids(found)


@pytest.mark.parametrize(
    "case",
    ["tampered", "unsigned", "wrong key", "expired", "no validUntil", "garbage", "too big"],
)
def test_bad_aggregates_are_refused(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock, case: str
) -> None:
    documents = {
        "tampered": signed(clock).replace(FED_ACS.encode(), b"https://evil.example.com/acs"),
        "unsigned": signed(clock, signed_by=None),
        "wrong key": signed(clock, signed_by="stranger"),
        "expired": signed(clock, days=-1),
        "no validUntil": aggregate([fed_sp_xml()], valid_until=None),
        "garbage": b"\x00\x01 not xml",
        "too big": b"<x>" + b" " * 2048 + b"</x>",
    }
    if case == "too big":
        small = FederationSource(
            NAME, FEDERATION_URL, key_pair("federation").cert_file, max_size=1024
        )
        settings = replace(settings, federations=(small,))
    http.documents[FEDERATION_URL] = documents[case]
    found = sources(settings, http, clock)
    [status] = found.refresh(NAME)
    assert not status.ok and status.error
    assert FED_SP not in ids(found)
    assert not found.cache_path(NAME).exists()


def test_a_key_inside_the_document_is_not_trusted(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    """Signed by a stranger who put their own certificate in KeyInfo: refused."""
    document = signed(clock, signed_by="stranger")
    assert key_pair("stranger").cert_b64.encode() in b"".join(document.split())
    http.documents[FEDERATION_URL] = document
    [status] = sources(settings, http, clock).refresh(NAME)
    assert not status.ok and "pinned" in (status.error or "")


def test_failed_refresh_keeps_the_last_good_copy(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock)
    found = sources(settings, http, clock)
    found.refresh(NAME)
    first = federation_status(found)
    clock.advance(3600)
    http.documents[FEDERATION_URL] = ConnectionError("federation down")
    [status] = found.refresh(NAME)
    assert not status.ok and status.error == "ConnectionError"
    assert status.last_success == first.last_success and status.entities == 1
    assert FED_SP in ids(found)
    http.documents[FEDERATION_URL] = signed(clock, signed_by="stranger")
    found.refresh(NAME)
    assert FED_SP in ids(found)
    # Past the last good copy's own validUntil, it goes.
    clock.advance(8 * 86400)
    [status] = found.refresh(NAME)
    assert not status.ok and status.entities == 0
    assert FED_SP not in ids(found)


def test_cache_is_reloaded_at_start_without_network(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock)
    sources(settings, http, clock).refresh(NAME)
    cache = Path(settings.metadata_cache_dir) / f"{NAME}.xml"
    assert cache.is_file()
    assert not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp")]
    offline = FakeHttp()
    restarted = sources(settings, offline, clock)
    assert offline.calls == []
    assert FED_SP in ids(restarted)
    assert federation_status(restarted).ok
    # An expired or tampered cache is not believed either.
    cache.write_bytes(cache.read_bytes().replace(FED_ACS.encode(), b"https://evil.example/acs"))
    tampered = sources(settings, offline, clock)
    assert FED_SP not in ids(tampered)
    assert not federation_status(tampered).ok


def test_newer_cache_from_another_process_is_picked_up(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    """``cas-server saml refresh`` writes the cache; the running server's loop reads it."""
    running = sources(settings, FakeHttp(), clock)
    running._next_refresh[NAME] = clock.now() + 3600  # not due: only the cache is looked at
    assert FED_SP not in ids(running)
    http.documents[FEDERATION_URL] = signed(clock)
    sources(settings, http, clock).refresh(NAME)
    running.tick()
    assert FED_SP in ids(running)


def test_workers_share_a_fresh_cache(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    """Each worker has its own loop; one fetch serves them all while the cache is fresh."""
    http.documents[FEDERATION_URL] = signed(clock)
    first, second = sources(settings, http, clock), sources(settings, http, clock)
    first.tick()
    second.tick()
    assert len(http.calls) == 1
    assert FED_SP in ids(second)


def test_background_tick_refreshes_when_due(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock)
    found = sources(settings, http, clock)
    found.tick()
    assert len(http.calls) == 1 and FED_SP in ids(found)
    found.tick()
    assert len(http.calls) == 1  # not due before refresh_interval
    clock.advance(3600 * 1.2)
    found.tick()
    assert len(http.calls) == 2


def test_metrics_follow_the_statuses(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    http.documents[FEDERATION_URL] = signed(clock)
    found = sources(settings, http, clock)
    found.refresh(NAME)

    def sample(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"source": NAME})

    assert sample("cas_saml_metadata_ok") == 1
    assert sample("cas_saml_metadata_entities") == 1
    assert sample("cas_saml_metadata_last_success_seconds") == pytest.approx(clock.now())
    http.documents[FEDERATION_URL] = ConnectionError()
    found.refresh(NAME)
    assert sample("cas_saml_metadata_ok") == 0


def test_unknown_source_name(settings: SamlSettings, http: FakeHttp, clock: FakeClock) -> None:
    with pytest.raises(KeyError):
        sources(settings, http, clock).refresh("nope")


def test_bad_sp_file_is_reported_not_fatal(
    make_settings: Callable[..., SamlSettings], tmp_path: Path, http: FakeHttp, clock: FakeClock
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "a.xml").write_text(
        sp_metadata("https://a.example.org/sp", "https://a.example.org/acs")
    )
    settings = make_settings(sp_files=(str(bad), str(tmp_path / "more" / "*.xml")), federations=())
    found = sources(settings, http, clock)
    statuses = {s.name: s for s in found.status()}
    assert not statuses[str(bad)].ok and "DTD" in (statuses[str(bad)].error or "")
    assert statuses[str(tmp_path / "more" / "a.xml")].ok
    assert "https://a.example.org/sp" in ids(found)


def test_changed_sp_file_is_reread(
    make_settings: Callable[..., SamlSettings], tmp_path: Path, http: FakeHttp, clock: FakeClock
) -> None:
    path = tmp_path / "sp.xml"
    path.write_text(sp_metadata("https://a.example.org/sp", "https://a.example.org/acs"))
    found = sources(make_settings(sp_files=(str(path),), federations=()), http, clock)
    assert "https://a.example.org/sp" in ids(found)
    path.write_text(sp_metadata("https://b.example.org/sp", "https://b.example.org/acs"))
    later = time.time() + 10
    import os

    os.utime(path, (later, later))
    found.tick()
    assert "https://b.example.org/sp" in ids(found)
    assert "https://a.example.org/sp" not in ids(found)


def test_a_local_file_wins_over_the_federation(
    settings: SamlSettings, http: FakeHttp, clock: FakeClock
) -> None:
    """The administrator's own file for an SP the federation also lists is the one used."""
    http.documents[FEDERATION_URL] = signed(
        clock, fed_sp_xml(SP, "https://elsewhere.example.net/acs")
    )
    idp = build_identity_provider(settings, http, clock, public_url=IDP_URL, background=False)
    idp.sources.refresh(NAME)
    provider = idp.service_provider(SP)
    assert provider is not None and provider.source.startswith("file:")
    assert idp.unsolicited_request(SP, None, None).acs_url == "https://sp.example.org/acs"
    assert [p.entity_id for p in idp.service_providers()].count(SP) == 1
