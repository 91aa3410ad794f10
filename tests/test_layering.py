"""The house stands: each package imports only the layers below it, no two modules import
each other, pure packages import no framework, and no module sits loose at the top.

The table below is the one in docs/architecture.md; a new package, a new loose
module, an upward import or an import circle fails here first.
"""

from __future__ import annotations

import ast
import functools
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
PURE = ["protocol", "accounts", "captcha"]
BELOW_RUNTIME = {
    "protocol",
    "accounts",
    "captcha",
    "settings",
    "storage",
    "auth",
    "outbound",
    "observability",
    "saml",
}
# What each package may import besides itself, bottom to top (docs/architecture.md).
# "" is the root package (create_app).
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "accounts": {"protocol"},
    "captcha": set(),
    "storage": {"protocol", "accounts"},
    "auth": {"protocol", "accounts", "storage"},
    # Settings fill the option dataclasses the adapters declare (LdapConfig, RedisSettings).
    "settings": {"protocol", "accounts", "storage", "auth"},
    "outbound": {"protocol", "accounts", "settings"},
    "observability": {"protocol", "accounts", "storage", "auth"},
    # The SAML binding (pysaml2) under the rules of protocol/saml2.
    "saml": {"protocol", "accounts", "settings", "observability"},
    "runtime": BELOW_RUNTIME,
    "admin": BELOW_RUNTIME | {"runtime"},
    "web": BELOW_RUNTIME | {"runtime", "admin"},
    "demo": BELOW_RUNTIME | {"runtime"},
    "": BELOW_RUNTIME | {"runtime", "admin", "web"},
    "cli": BELOW_RUNTIME | {"runtime", "admin", "web", "demo", ""},
}
# Loose modules at the top: only the factory, and one alias kept for old gunicorn.conf.py.
TOP_MODULES = {"__init__.py", "logs.py"}
ALIASES = {"logs": {"cas_server.observability.logs"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every cas_server module or name ``path`` imports, at any depth (functions and
    ``TYPE_CHECKING`` blocks included: a circle through them is still a circle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                # ``from package import module`` depends on the module, not on the package
                full = f"{module}.{alias.name}"
                names.add(full if _is_module(full) else module)
    return names


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.relative_to(PACKAGE).parts
    }


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@functools.cache
def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {m for m in imports_of(path) if m in known and m != name}
        for name, path in known.items()
    }


def test_every_package_has_a_place_in_the_table() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert packages - set(ALLOWED) == set(), "add the new package to ALLOWED and the docs"
    assert loose == TOP_MODULES, "a module belongs in a package"


def test_the_table_itself_has_no_circle() -> None:
    seen: list[str] = []
    remaining = dict(ALLOWED)
    while remaining:
        ready = [p for p, below in remaining.items() if below <= set(seen)]
        assert ready, f"circular layers among {sorted(remaining)}"
        for p in ready:
            seen.append(p)
            del remaining[p]


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_import_no_framework(layer: str) -> None:
    offenders = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in imports_of(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_below_them(layer: str) -> None:
    offenders = []
    for name, deps in graph().items():
        if package_of(name) != layer or name.split(".")[-1] in ALIASES:
            continue
        for dep in deps:
            target = package_of(dep)
            if target != layer and target not in ALLOWED[layer]:
                offenders.append(f"{name} imports {dep}")
    assert offenders == []


def test_the_alias_only_points_to_its_new_home() -> None:
    for alias, targets in ALIASES.items():
        assert graph()[f"cas_server.{alias}"] == targets


def test_no_two_modules_import_each_other() -> None:
    """No import circle of any length (Tarjan's strongly connected components)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []


def test_modules_stay_small() -> None:
    big = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 400
    ]
    assert big == []
