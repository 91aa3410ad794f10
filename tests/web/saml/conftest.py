"""Fixtures of the SAML web tests: ``[saml]`` on, three SPs (``saml_web_support``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.web.saml.saml_web_support import SP1, SamlSp, saml_overrides, write_sp_files


@pytest.fixture
def sp_files(tmp_path: Path) -> list[str]:
    return write_sp_files(tmp_path)


@pytest.fixture
def app_overrides(sp_files: list[str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    return saml_overrides(sp_files, tmp_path)


@pytest.fixture
def sp1(client: FlaskClient) -> SamlSp:
    return SamlSp(client, SP1)
