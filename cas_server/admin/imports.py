"""CSV imports: the dry run, the file kept server-side between the two steps, the real run.

The uploaded file waits in ``[admin] import_dir`` under a random name
(256 bits) until the administrator confirms or a day passes; the name is
the only handle, and the administrator's session holds it. The real run
reads the same bytes again, so it does exactly what the dry run showed
(unless the database changed in between, which the real run then reports).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

from ..accounts.csv_import import CsvFileError, parse_csv
from ..accounts.i18n import N_
from ..runtime.container import container
from ..storage.sql.importer import ImportReport, apply_plan
from . import admin
from .acting import Refused
from .actions import Actions

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
KEEP_SECONDS = 86400.0


def _folder() -> Path:
    folder = admin().settings.import_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _clean_old(folder: Path) -> None:
    limit = time.time() - KEEP_SECONDS
    for path in folder.glob("*.csv"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
        except OSError:
            pass


def stage(data: bytes, filename: str, actor: str) -> str:
    """Keep the file for the real run; returns its token."""
    folder = _folder()
    _clean_old(folder)
    token = secrets.token_urlsafe(32)
    path = folder / f"{token}.csv"
    path.write_bytes(data)
    path.with_suffix(".json").write_text(
        json.dumps({"filename": filename[:255], "actor": actor, "at": time.time()}),
        encoding="utf-8",
    )
    return token


def staged(token: str, actor: str) -> tuple[bytes, str] | None:
    """The kept file and its name, if ``token`` is one and belongs to ``actor``."""
    if not TOKEN_RE.fullmatch(token):
        return None
    path = admin().settings.import_dir / f"{token}.csv"
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("actor") != actor or time.time() - float(meta["at"]) > KEEP_SECONDS:
            return None
        return path.read_bytes(), str(meta.get("filename", ""))
    except (OSError, ValueError, KeyError):
        return None


def discard(token: str) -> None:
    if TOKEN_RE.fullmatch(token):
        path = admin().settings.import_dir / f"{token}.csv"
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)


def run_import(actions: Actions, data: bytes, *, dry_run: bool, filename: str = "") -> ImportReport:
    """Parse and apply (or simulate) in one transaction; audited.

    Raises :class:`Refused` for a file that cannot be read at all, or when
    the real run fails (nothing is then changed).
    """
    actions.check("import", None)
    name = filename[:255]
    try:
        plan = parse_csv(data, admin().settings.import_max_bytes)
    except CsvFileError as exc:
        actions.audit("import", "refused", None, file=name, reason=str(exc), dry_run=dry_run)
        raise Refused(exc.message, **exc.params) from exc
    try:
        report = apply_plan(container().engine, plan, dry_run=dry_run, actor=actions.actor.name)
    except Exception as exc:  # the transaction was rolled back: nothing changed
        actions.audit(
            "import", "failed", None, file=name, error=exc.__class__.__name__, dry_run=dry_run
        )
        raise Refused(
            N_("The import failed and nothing was changed (%(error)s). Run the dry run again."),
            error=exc.__class__.__name__,
        ) from exc
    actions.audit(
        "import",
        "dry_run" if dry_run else "success",
        None,
        file=name,
        encoding=plan.encoding,
        **report.counts,
    )
    return report
