"""Service definitions: every mistake is named with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_server.settings.services import ServiceDefinitionError, load_registry

GOOD = """
[[services]]
id = "moodle"
name = "Moodle"
url_prefix = "https://moodle.example.edu"
evaluation_order = 2
release_attributes = ["uid", { name = "mail", as = "email" }]

[[services]]
id = "ent"
name = "ENT"
url_exact = "https://ent.example.edu/login?x=1"
evaluation_order = 1
theme = "default"
logout_url = "https://ent.example.edu/slo"
"""


def write(tmp_path: Path, text: str, name: str = "services.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_and_match(tmp_path: Path) -> None:
    registry = load_registry([write(tmp_path, GOOD)])
    assert [s.id for s in registry] == ["ent", "moodle"]
    assert registry.find_enabled("https://moodle.example.edu/course?id=3").id == "moodle"  # type: ignore[union-attr]
    # A prefix ends on a path boundary: no look-alike hosts.
    assert registry.find_enabled("https://moodle.example.edu.evil.org/") is None
    assert registry.find_enabled("https://ent.example.edu/login?x=1").id == "ent"  # type: ignore[union-attr]
    assert registry.find_enabled("https://ent.example.edu/login?x=12") is None
    moodle = registry.get("moodle")
    assert moodle is not None
    assert moodle.release({"uid": ("u",), "mail": ("m",), "sn": ("s",)}) == {
        "uid": ("u",),
        "email": ("m",),
    }


def test_a_folder_loads_every_toml_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    write(
        tmp_path, '[[services]]\nid = "x"\nname = "X"\nurl_pattern = "^https://x/.*$"\n', "b.toml"
    )
    write(tmp_path, "ignored", "notes.txt")
    assert len(load_registry([tmp_path])) == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[services]]\nname = "x"\nurl_pattern = "a"', "id"),
        ('[[services]]\nid = "a b"\nname = "x"\nurl_pattern = "a"', "id"),
        ('[[services]]\nid = "a"\nurl_pattern = "a"', "name"),
        ('[[services]]\nid = "a"\nname = "x"', "url_pattern"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "("', "url_pattern"),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nurl_prefix = "https://a"',
            "url_pattern",
        ),
        ('[[services]]\nid = "a"\nname = "x"\nurl_prefix = "ftp://a"', "url_prefix"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nenabled = "yes"', "enabled"),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nevaluation_order = true',
            "evaluation_order",
        ),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\n'
            'release_attributes = ["bad name"]',
            "release_attributes",
        ),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nproxy_callback_pattern = "["',
            "proxy_callback_pattern",
        ),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nlogout_type = "carrier_pigeon"',
            "logout_type",
        ),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nlogout_url = "slo"', "logout_url"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\ncolour = "red"', "colour"),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\n[services.access]\nroles = []',
            "access",
        ),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\n'
            '[[services]]\nid = "a"\nname = "y"\nurl_pattern = "b"',
            "id",
        ),
        (
            '[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\ncas2_attributes = "yes"',
            "cas2_attributes",
        ),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nmfa = "yes"', "mfa"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nmfa = "Required"', "mfa"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nmfa = true', "mfa"),
        ('[[services]]\nid = "a"\nname = "x"\nurl_pattern = "a"\nmfa = ""', "mfa"),
        ("services = 3", "services"),
        ("[[services", "(file)"),
    ],
)
def test_invalid_definitions_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ServiceDefinitionError) as err:
        load_registry([path])
    assert err.value.key == key
    assert str(path) in str(err.value)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceDefinitionError, match="no such file"):
        load_registry([tmp_path / "nope"])


def test_shipped_definitions_load() -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    registry = load_registry([root / "services", root / "demo-services"])
    assert {s.id for s in registry} == {"demo-ent", "demo-moodle", "demo-paie"}


@pytest.mark.parametrize("port", [8081, 9123])
def test_demo_single_logout_follows_the_demo_client_port(port: int) -> None:
    """`make run DEMO_CLIENT_PORT=…` (issue #12, item 24): no address fixed to 8081."""
    root = Path(__file__).resolve().parents[2] / "config"
    registry = load_registry([root / "demo-services"])
    for name, service_id in (("ent", "demo-ent"), ("moodle", "demo-moodle")):
        service = f"http://127.0.0.1:{port}/{name}/"
        assert registry.get(service_id).single_logout_url(service) == service


def test_the_demo_client_takes_single_logout_at_the_service_url() -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "scripts" / "demo_client.py"
    spec = importlib.util.spec_from_file_location("demo_client", script)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    message = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" '
        'Version="2.0" IssueInstant="2026-12-03T10:00:00Z"><saml:NameID '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice</saml:NameID>'
        "<samlp:SessionIndex>ST-abc</samlp:SessionIndex></samlp:LogoutRequest>"
    )
    client = demo.app.test_client()
    assert client.post("/ent/", data={"logoutRequest": message}).status_code == 200
    assert "ST-abc" in demo.ended_tickets
    assert client.post("/ent/", data={}).status_code == 400


CAS2 = """
[[services]]
id = "moodle"
name = "Moodle"
url_prefix = "https://moodle.example.edu"
cas2_attributes = true

[[services]]
id = "glpi"
name = "GLPI"
url_prefix = "https://glpi.example.edu"
cas2_attributes = false

[[services]]
id = "ent"
name = "ENT"
url_prefix = "https://ent.example.edu"
"""


@pytest.mark.parametrize("default", [False, True])
def test_cas2_attributes_per_service_over_the_global_default(tmp_path: Path, default: bool) -> None:
    """Issue 12 item 3: decided once, at load; a service's own key wins over the default."""
    registry = load_registry([write(tmp_path, CAS2)], cas2_attributes=default)
    flags = {s.id: s.cas2_attributes for s in registry}
    assert flags == {"moodle": True, "glpi": False, "ent": default}


def test_cas2_attributes_default_is_off(tmp_path: Path) -> None:
    registry = load_registry([write(tmp_path, CAS2)])
    assert registry.get("ent").cas2_attributes is False  # type: ignore[union-attr]


MFA = """
[[services]]
id = "payroll"
name = "Payroll"
url_prefix = "https://payroll.example.edu"
mfa = "required"

[[services]]
id = "wiki"
name = "Wiki"
url_prefix = "https://wiki.example.edu"
mfa = "optional"

[[services]]
id = "ent"
name = "ENT"
url_prefix = "https://ent.example.edu"
"""


def test_mfa_required_per_service_and_optional_by_default(tmp_path: Path) -> None:
    """Issue 14: ``mfa = "required"`` asks a second factor; "optional" (the default) does not."""
    registry = load_registry([write(tmp_path, MFA)])
    assert {s.id: s.mfa_required for s in registry} == {
        "payroll": True,
        "wiki": False,
        "ent": False,
    }
