"""Demo data: a few accounts to sign in with on a fresh checkout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from ..accounts.model import Profile, Status
from ..auth.hashing import hash_password
from ..runtime.container import Container

DEMO_ACCOUNTS: list[dict[str, Any]] = [
    {
        "login": "etudiant",
        "password": "Etudiant-2026!",
        "profile": Profile.STUDENT,
        "given_name": "Camille",
        "family_name": "Martin",
        "birth_date": date(2005, 3, 14),
        "student_number": "22001234",
        "ine": "1234567890A",
        "personal_email": "camille.martin@example.net",
        "attributes": {"mail": ["camille.martin@etu.univ-demo.fr"], "supannEtuCursusAnnee": ["L2"]},
    },
    {
        "login": "enseignant",
        "password": "Enseignant-2026!",
        "profile": Profile.TEACHER,
        "given_name": "Jean",
        "family_name": "Dupont",
        "personnel_number": "P000042",
        "personal_email": "jean.dupont@example.net",
        "attributes": {
            "mail": ["jean.dupont@univ-demo.fr"],
            "memberOf": ["enseignants", "informatique"],
        },
    },
    {
        "login": "parent",
        "password": "Parent-2026!!",
        "profile": Profile.PARENT,
        "given_name": "Nadia",
        "family_name": "Benali",
        "personal_email": "nadia.benali@example.net",
        "attributes": {},
    },
    {
        "login": "admin",
        "password": "Admin-Demo-2026!",
        "profile": Profile.STAFF,
        "given_name": "Alex",
        "family_name": "Admin",
        "personnel_number": "P000001",
        "roles": ["admin", "impersonate"],  # the help desk may sign in as someone (#15)
        "attributes": {"mail": ["admin@univ-demo.fr"]},
    },
]


def load_demo(c: Container) -> Iterator[str]:
    for spec in DEMO_ACCOUNTS:
        spec = dict(spec)
        login = str(spec.pop("login"))
        password = str(spec.pop("password"))
        if c.accounts.find_by_login(login) is not None:
            yield f"{login}: already there"
            continue
        c.accounts.create(
            login,
            status=Status.ACTIVE,
            password_hash=hash_password(password, c.settings.bcrypt_cost),
            **spec,
        )
        yield f"{login}: created (password {password})"
