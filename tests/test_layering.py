"""The house stands: pure packages import no framework, database or HTTP client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cas_server"
FORBIDDEN = {
    "flask",
    "flask_babel",
    "flask_wtf",
    "flask_login",
    "werkzeug",
    "jinja2",
    "sqlalchemy",
    "alembic",
    "redis",
    "ldap3",
    "requests",
    "urllib3",
    "psycopg",
    "gunicorn",
}
PURE = ["protocol", "accounts"]
# Each layer may import only from itself and the layers listed (ARCHITECTURE.md).
ALLOWED_INTERNAL = {
    "protocol": {"protocol"},
    "accounts": {"accounts", "protocol"},
    "storage": {"storage", "protocol", "accounts"},
    "auth": {"auth", "accounts", "protocol", "storage"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
                base = ".".join(parts)
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_import_no_framework(layer: str) -> None:
    offenders = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in imports_of(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("layer", sorted(ALLOWED_INTERNAL))
def test_layers_import_only_below_them(layer: str) -> None:
    offenders = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] != "cas_server" or len(parts) < 2:
                continue
            if parts[1] in {"i18n"}:  # translation markers are plain functions
                continue
            if parts[1] not in ALLOWED_INTERNAL[layer]:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_modules_stay_small() -> None:
    big = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 400
    ]
    assert big == []
