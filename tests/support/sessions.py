"""What the tests of live SSO sessions share (``tests/web/admin/test_session_explorer.py``,
``tests/web/profile/test_my_sessions.py``, ``tests/browser/test_my_sessions_browser.py``):
an iPhone's user agent, and a service with a back-channel logout URL next to the test
services, for the app's ``app_overrides``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.paths import DATA
from tests.support.slo import LogoutEndpoint

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
APP = "https://slo.example.org/app"  # a URL of the "slo-app" service


def sessions_overrides(
    tmp_path: Path, endpoint: LogoutEndpoint, network: dict[str, str]
) -> dict[str, Any]:
    """The test services plus "slo-app" (``APP``, its logout URL ``endpoint``), one named
    ``network`` for the session lists, no new-device notice."""
    services = tmp_path / "slo-services.toml"
    services.write_text(
        "[[services]]\n"
        'id = "slo-app"\n'
        'name = "Moodle de test"\n'
        "url_pattern = '^https://slo\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 100\n"
        'release_attributes = ["uid"]\n'
        f'logout_url = "{endpoint.url}"\n',
        encoding="utf-8",
    )
    return {
        "services": {"paths": [str(DATA / "services.toml"), str(services)]},
        "sessions": {"networks": [network], "new_device_notice": False},
    }
