"""Refresh the translation catalogs from the code and templates.

1. extract every msgid (``_``, ``_l``, ``N_``, ``NP_`` plural pairs, ``ngettext``,
   templates) into messages.pot;
2. update the French and English catalogs;
3. French: the msgstr comes from ``cas_server/translations/fr/*.json`` (msgid →
   French text; for a plural entry the key is the singular msgid and the value a
   list of two texts, singular and plural). The json files are the source: they
   win over what the .po says, and an entry only in the .po is kept. English:
   the msgid itself (both forms of a plural);
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


def french_texts() -> dict[str, str | tuple[str, str]]:
    """msgid → French; a plural's value is (singular, plural). Checked: a typo in a
    json file must not reach a catalog."""
    texts: dict[str, str | tuple[str, str]] = {}
    source: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / "fr").glob("*.json")):
        for msgid, value in json.loads(path.read_text(encoding="utf-8")).items():
            text: str | tuple[str, str]
            if isinstance(value, list):
                if len(value) != 2 or not all(isinstance(v, str) and v for v in value):
                    raise SystemExit(f"{path.name}: {msgid!r}: a plural is two texts")
                text = (value[0], value[1])
            elif isinstance(value, str):
                text = value
            else:
                raise SystemExit(f"{path.name}: {msgid!r}: expected a text or two")
            # One msgid is one text everywhere: a second file saying it otherwise
            # would silently reword every page that uses it.
            if msgid in texts and texts[msgid] != text:
                raise SystemExit(
                    f"{path.name}: {msgid!r} is {text!r} here but {texts[msgid]!r} in "
                    f"{source[msgid]}: one French text per msgid"
                )
            texts[msgid] = text
            source.setdefault(msgid, path.name)
    return texts


def main() -> int:
    pot = TRANSLATIONS / "messages.pot"
    run(
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "_l",
        "-k",
        "N_",
        "-k",
        "NP_:1,2",  # cas_server.accounts.i18n.NP_(singular, plural)
        "--no-location",
        "-o",
        str(pot),
        ".",
    )
    run("update", "-N", "-i", str(pot), "-d", str(TRANSLATIONS))
    extra = french_texts()
    missing: dict[str, list[str]] = {}
    for lang in ("fr", "en"):
        po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                message.flags.discard("fuzzy")
                message.string = ("", "") if isinstance(message.id, tuple) else ""
            if isinstance(message.id, tuple):  # plural forms: (singular, plural)
                if lang == "en":
                    message.string = message.id
                elif isinstance(extra.get(message.id[0]), tuple):
                    message.string = extra[message.id[0]]
                if len(message.string) != 2 or not all(message.string):
                    missing.setdefault(lang, []).append(message.id[0])
                continue
            if lang == "en":
                message.string = message.string or message.id
            elif isinstance(extra.get(message.id), str):
                message.string = extra[message.id]
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
