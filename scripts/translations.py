"""Refresh the translation catalogs from the code and templates.

1. extract every msgid (``_``, ``_l``, ``N_``, templates) into messages.pot;
2. update the French and English catalogs (existing translations are kept);
3. fill empty French msgstr from ``cas_server/translations/fr/*.json``
   (msgid → French text), and English msgstr with the msgid itself;
4. report what is still untranslated (exit 1) and compile the .mo files.

Run with ``make catalog``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "cas_server" / "translations"
PYBABEL = str(Path(sys.executable).parent / "pybabel")


def run(*args: str) -> None:
    subprocess.run([PYBABEL, *args], cwd=ROOT, check=True, capture_output=True)


def main() -> int:
    pot = TRANSLATIONS / "messages.pot"
    run("extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "--no-location", "-o", str(pot), ".")
    run("update", "-N", "-i", str(pot), "-d", str(TRANSLATIONS))
    extra: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / "fr").glob("*.json")):
        extra.update(json.loads(path.read_text(encoding="utf-8")))
    missing: dict[str, list[str]] = {}
    for lang in ("fr", "en"):
        po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        for message in catalog:
            if not message.id:
                continue
            if isinstance(message.id, tuple):  # plural forms
                if lang == "en" and not any(message.string):
                    message.string = message.id
                continue
            if message.fuzzy:
                message.flags.discard("fuzzy")
                message.string = ""
            if not message.string:
                message.string = message.id if lang == "en" else extra.get(message.id, "")
            if not message.string:
                missing.setdefault(lang, []).append(message.id)
        catalog.obsolete.clear()
        with po_path.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, include_previous=False)
    run("compile", "-d", str(TRANSLATIONS))
    for lang, ids in missing.items():
        print(f"{lang}: {len(ids)} untranslated:", *ids, sep="\n  ")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
