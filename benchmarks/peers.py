"""The two existing Python CAS servers the benchmark compares with.

Each is installed from PyPI into its own virtual environment under
``benchmarks/.peers/<name>/venv`` (gitignored) and served by a minimal Django
project written here, configured like the CAS server under test: SQLite in
WAL mode with the same busy timeout and synchronous level, persistent
database connections (our server keeps a pool), bcrypt over SHA-256 at the
same cost (Django's BCryptSHA256PasswordHasher, the same scheme as ours), one
registered service releasing three attributes, DEBUG off, and the same
gunicorn settings file (config/gunicorn.conf.py: workers, threads, timeouts).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / ".peers"
# Pinned: the versions the issue names, and one Django both run on.
DJANGO = "django==5.2.19"
COMMON = ("gunicorn==27.0.1", "bcrypt==5.0.0", DJANGO)


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    requirements: tuple[str, ...]
    app: str
    settings: str
    urls: str
    setup: str  # body of bench_setup.py: registers the service
    fill: str  # body of bench_fill.py: pre-issues N tickets, prints "ticket" lines
    validate_path: str
    sso_cookie: str  # the session cookie that carries the SSO session

    @property
    def root(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def gunicorn(self) -> Path:
        return self.root / "venv" / "bin" / "gunicorn"

    @property
    def project(self) -> Path:
        return self.root / "project"


DJANGO_CAS_SERVER = Peer(
    name="django-cas-server",
    label="django-cas-server 3.1",
    requirements=("django-cas-server==3.1.0", *COMMON),
    app="cas_server",
    settings="""
        CAS_NEW_VERSION_HTML_WARNING = False
        CAS_NEW_VERSION_EMAIL_WARNING = False
        CAS_TICKET_VALIDITY = 3600
        CAS_SHOW_POWERED = False
        CAS_INFO_MESSAGES_ORDER = []
    """,
    urls='path("", include("cas_server.urls", namespace="cas_server"))',
    setup="""
        from cas_server.models import ReplaceAttributName, ServicePattern
        pattern = ServicePattern.objects.create(
            pos=100, name="bench", pattern=SERVICE_PATTERN, user_field="username"
        )
        for name, replace in (("username", "uid"), ("email", "mail"), ("first_name", "givenName")):
            ReplaceAttributName.objects.create(name=name, replace=replace, service_pattern=pattern)
    """,
    fill="""
        from cas_server import utils
        from cas_server.models import ServicePattern, ServiceTicket, User
        user = User.objects.filter(username=USERNAME).order_by("id").first()
        assert user is not None, "sign in once before pre-issuing tickets"
        pattern = ServicePattern.objects.get(name="bench")
        attributes = {"uid": USERNAME, "mail": USERNAME + "@example.org", "givenName": "Bench"}
        batch = [
            ServiceTicket(
                user=user, service=SERVICE, service_pattern=pattern, attributs=attributes,
                renew=False, single_log_out=False, value=utils.gen_st(),
            )
            for _ in range(COUNT)
        ]
        ServiceTicket.objects.bulk_create(batch, batch_size=2000)
        tickets = [t.value for t in batch]
    """,
    validate_path="/p3/serviceValidate",
    sso_cookie="sessionid",
)

MAMA_CAS = Peer(
    name="django-mama-cas",
    label="django-mama-cas 2.5",
    requirements=("django-mama-cas==2.5.0", *COMMON),
    app="mama_cas",
    settings="""
        MAMA_CAS_TICKET_EXPIRE = 3600
        MAMA_CAS_SERVICES = [
            {
                "SERVICE": SERVICE_PATTERN,
                "CALLBACKS": ["mama_cas.callbacks.user_name_attributes"],
                "PROXY_ALLOW": False,
                "LOGOUT_ALLOW": False,
            }
        ]
    """,
    urls='path("", include("mama_cas.urls"))',
    setup="""
        pass  # services are settings (MAMA_CAS_SERVICES)
    """,
    fill="""
        from datetime import timedelta
        from django.contrib.auth import get_user_model
        from django.utils.timezone import now
        from mama_cas.models import ServiceTicket
        user = get_user_model().objects.get(username=USERNAME)
        expires = now() + timedelta(seconds=3600)
        batch = [
            ServiceTicket(
                ticket=ServiceTicket.objects.create_ticket_str(), user=user, service=SERVICE,
                expires=expires, primary=False,
            )
            for _ in range(COUNT)
        ]
        ServiceTicket.objects.bulk_create(batch, batch_size=2000)
        tickets = [t.ticket for t in batch]
    """,
    validate_path="/p3/serviceValidate",
    sso_cookie="sessionid",
)

PEERS = (DJANGO_CAS_SERVER, MAMA_CAS)


SETTINGS = """\
# Written by benchmarks/peers.py: a minimal deployment of {label} for the benchmark.
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_PATTERN = r"{service_pattern}"
SECRET_KEY = os.environ["BENCH_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "benchproj",
    "{app}",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "benchproj.urls"
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        }},
    }}
]
WSGI_APPLICATION = "benchproj.wsgi.application"
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_DATABASE"],
        "OPTIONS": {{"timeout": 30}},
        # Persistent connections, like the pool of the server under test.
        "CONN_MAX_AGE": 600,
    }}
}}
PASSWORD_HASHERS = ["benchproj.hashers.BenchBCryptSHA256PasswordHasher"]
BCRYPT_COST = int(os.environ.get("BENCH_BCRYPT_COST", "12"))
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SESSION_COOKIE_HTTPONLY = True
{extra}
"""

HASHERS = """\
from django.conf import settings
from django.contrib.auth.hashers import BCryptSHA256PasswordHasher


class BenchBCryptSHA256PasswordHasher(BCryptSHA256PasswordHasher):
    # The cost of the server under test (Django's default is 12).
    rounds = settings.BCRYPT_COST
"""

APPS = """\
from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _pragmas(sender, connection, **kwargs):
    # The same SQLite settings as the server under test (cas_server/storage/sql/db.py).
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")


class BenchConfig(AppConfig):
    name = "benchproj"

    def ready(self):
        connection_created.connect(_pragmas)
"""

URLS = """\
from django.urls import include, path

urlpatterns = [{urls}]
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
application = get_wsgi_application()
"""

SCRIPT = """\
# Written by benchmarks/peers.py.
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
django.setup()
from django.conf import settings  # noqa: E402

SERVICE = os.environ["BENCH_SERVICE"]
SERVICE_PATTERN = settings.SERVICE_PATTERN
USERNAME = os.environ["BENCH_USERNAME"]
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 0
tickets = []
{body}
{tail}
"""

SETUP_TAIL = """\
from django.contrib.auth import get_user_model  # noqa: E402

User = get_user_model()
user = User(username=USERNAME, email=USERNAME + "@example.org", first_name="Bench")
user.set_password(os.environ["BENCH_PASSWORD"])
user.save()
print(json.dumps({"hash": user.password.split("$")[0], "user": USERNAME}))
"""

FILL_TAIL = """\
with open(sys.argv[2], "w") as out:
    for ticket in tickets:
        out.write(ticket + "\\n")
print(json.dumps({"tickets": len(tickets)}))
"""


def ensure_venv(peer: Peer, log: Path) -> None:
    """Create the peer's virtual environment once; reinstall if the pins changed."""
    stamp = peer.root / "venv" / ".installed"
    wanted = "\n".join(peer.requirements)
    if stamp.exists() and stamp.read_text() == wanted and peer.python.exists():
        return
    peer.root.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(peer.root / "venv")],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
        subprocess.run(
            [str(peer.python), "-m", "pip", "install", "-q", *peer.requirements],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    stamp.write_text(wanted)


def write_project(peer: Peer, service_pattern: str) -> None:
    pkg = peer.project / "benchproj"
    pkg.mkdir(parents=True, exist_ok=True)
    extra = textwrap.dedent(peer.settings)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text(
        SETTINGS.format(
            label=peer.label, app=peer.app, service_pattern=service_pattern, extra=extra
        )
    )
    (pkg / "hashers.py").write_text(HASHERS)
    (pkg / "apps.py").write_text(APPS)
    (pkg / "urls.py").write_text(URLS.format(urls=peer.urls))
    (pkg / "wsgi.py").write_text(WSGI)
    (peer.project / "bench_setup.py").write_text(
        SCRIPT.format(body=textwrap.dedent(peer.setup), tail=SETUP_TAIL)
    )
    (peer.project / "bench_fill.py").write_text(
        SCRIPT.format(body=textwrap.dedent(peer.fill), tail=FILL_TAIL)
    )
