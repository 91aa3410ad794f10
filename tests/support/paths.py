"""Where things are: the checkout, this interpreter's scripts, the tests' data."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # gunicorn and cas-server of this virtualenv
DATA = ROOT / "tests" / "data"
SERVICES = DATA / "services.toml"
