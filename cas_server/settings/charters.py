"""Load charters from ``config/charters/charters.toml`` and the text files beside it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..accounts.charter import Charter
from ..accounts.model import Profile

KEYS = {"id", "version", "profiles", "title", "text"}


class CharterError(ValueError):
    pass


def load_charters(path: Path | None) -> tuple[Charter, ...]:
    """Charters in the order of the file; ``None`` or a missing file: no charter."""
    if path is None:
        return ()
    if not path.is_file():
        raise CharterError(f"charters.path: no such file {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CharterError(f"{path}: not valid TOML: {exc}") from exc
    charters = []
    for index, entry in enumerate(data.get("charters", [])):
        where = f"{path}[charters #{index + 1}]"
        if not isinstance(entry, dict) or set(entry) - KEYS:
            raise CharterError(f"{where}: allowed keys are {', '.join(sorted(KEYS))}")
        try:
            charter_id, version = str(entry["id"]), str(entry["version"])
            titles = {str(k): str(v) for k, v in entry["title"].items()}
            files = {str(k): str(v) for k, v in entry["text"].items()}
        except (KeyError, AttributeError) as exc:
            raise CharterError(
                f"{where}: id, version, title.<lang> and text.<lang> are required"
            ) from exc
        profiles = entry.get("profiles", [])
        valid = {p.value for p in Profile}
        if not isinstance(profiles, list) or not set(profiles) <= valid:
            raise CharterError(f"{where}: profiles must be among {', '.join(sorted(valid))}")
        texts = {}
        for language, name in files.items():
            text_path = path.parent / name
            if not text_path.is_file():
                raise CharterError(f"{where}: text.{language}: no such file {text_path}")
            texts[language] = text_path.read_text(encoding="utf-8")
        charters.append(Charter(charter_id, version, titles, texts, frozenset(profiles)))
    return tuple(charters)
