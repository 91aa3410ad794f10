"""A real OpenLDAP (scripts/slapd-test.sh, tests/data/ldap-people.ldif) behind the app.

The chain is local accounts first, then the directory. The service account
is the directory's root DN (a test directory: in production, a dedicated
account with write access to userPassword and pwdReset).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.servers import LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LdapServer

PEOPLE = "ou=people,dc=example,dc=org"


def ldap_settings(*urls: str, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "urls": list(urls),
        "base_dn": PEOPLE,
        "bind_dn": LDAP_ADMIN,
        "bind_password": LDAP_ADMIN_PASSWORD,
        "connect_timeout": 1.0,
        "receive_timeout": 2.0,
        "profile_attribute": "employeeType",
        "account": {
            "given_name": "givenName",
            "family_name": "sn",
            "student_number": "studentNumber",
            "personnel_number": "employeeNumber",
        },
        "attributes": {"mail": "mail", "supannEtuId": "studentNumber", "cn": "cn"},
    }
    settings.update(extra)
    return settings


@pytest.fixture
def app_overrides(ldap_server: LdapServer) -> dict[str, dict[str, Any]]:
    return {"auth": {"sources": ["local", "ldap"]}, "ldap": ldap_settings(ldap_server.url)}
