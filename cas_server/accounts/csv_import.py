"""Reading account lists exported from school and university systems (CSV).

Pure: bytes in, a plan out. Encodings (UTF-8 with or without BOM, UTF-16,
Windows-1252 from spreadsheets) and delimiters (; , tab) are detected;
French and English column names are understood; every rejected line says
why. Applying the plan is the storage layer's job, in one transaction.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from .i18n import N_
from .model import Profile

MAX_LINES = 200_000
MAX_FIELD = 320
MB = 1024 * 1024

# Column name (normalised: lowercase, no accents, no spaces/_/-) → field.
COLUMNS: Mapping[str, str] = {
    **dict.fromkeys(["login", "identifiant", "uid", "username"], "login"),
    **dict.fromkeys(["givenname", "prenom", "firstname"], "given_name"),
    **dict.fromkeys(["familyname", "nom", "lastname", "sn", "surname"], "family_name"),
    **dict.fromkeys(["birthdate", "datenaissance", "datedenaissance", "naissance"], "birth_date"),
    **dict.fromkeys(["profile", "profil", "type", "categorie"], "profile"),
    **dict.fromkeys(
        ["studentnumber", "numeroetudiant", "numetudiant", "noetudiant"], "student_number"
    ),
    **dict.fromkeys(["ine", "numeroine"], "ine"),
    **dict.fromkeys(["personnelnumber", "matricule", "numeropersonnel"], "personnel_number"),
    **dict.fromkeys(
        ["email", "mail", "mailperso", "emailpersonnel", "courriel", "personalemail"],
        "personal_email",
    ),
    **dict.fromkeys(["mobile", "telephone", "portable", "tel"], "mobile"),
    **dict.fromkeys(["class", "classe", "structure", "division", "groupe"], "structure"),
    **dict.fromkeys(["externalid", "idexterne", "id", "identifiantexterne"], "external_id"),
}
REQUIRED = ("given_name", "family_name", "profile")

PROFILES: Mapping[str, Profile] = {
    **dict.fromkeys(["student", "etudiant", "eleve", "pupil"], Profile.STUDENT),
    **dict.fromkeys(["teacher", "enseignant", "professeur", "prof"], Profile.TEACHER),
    **dict.fromkeys(["parent", "responsable", "responsablelegal"], Profile.PARENT),
    **dict.fromkeys(["staff", "personnel", "administratif", "agent"], Profile.STAFF),
    **dict.fromkeys(["external", "externe", "invite"], Profile.EXTERNAL),
}

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MOBILE_RE = re.compile(r"\+?[0-9 .-]{6,20}")
LOGIN_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[\s_\-.'/]", "", folded)


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, binary, columns, size)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str  # msgid
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    line: int
    values: Mapping[str, object]  # field → str | date | Profile


@dataclass
class Plan:
    encoding: str
    delimiter: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in."""
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError(N_("This is not a CSV text file (binary content)."))
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    if "\ufffd" in text or any(
        unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in text
    ):
        raise CsvFileError(N_("The file's encoding could not be recognised (use UTF-8)."))
    return text, "windows-1252"


def _delimiter(sample: str) -> str:
    header = sample.splitlines()[0] if sample else ""
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise CsvFileError(N_("No column separator found (use ; or , between columns)."))
    return best


def parse_date(text: str) -> date | None:
    text = text.strip()
    for pattern, order in (
        (r"(\d{1,2})/(\d{1,2})/(\d{4})", "dmy"),
        (r"(\d{4})-(\d{2})-(\d{2})", "ymd"),
        (r"(\d{1,2})-(\d{1,2})-(\d{4})", "dmy"),
        (r"(\d{1,2})\.(\d{1,2})\.(\d{4})", "dmy"),
    ):
        m = re.fullmatch(pattern, text)
        if m:
            a, b, c = (int(x) for x in m.groups())
            day, month, year = (a, b, c) if order == "dmy" else (c, b, a)
            try:
                born = date(year, month, day)
            except ValueError:
                return None
            return born if 1900 <= year <= date.today().year else None
    return None


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _row(line: int, raw: Mapping[str, str]) -> Row | Rejected:
    values: dict[str, object] = {}
    for name, text in raw.items():
        text = _clean(text)
        if len(text) > MAX_FIELD:
            return Rejected(line, N_("The column %(column)s is too long."), {"column": name})
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            return Rejected(
                line, N_("The column %(column)s contains control characters."), {"column": name}
            )
        if text:
            values[name] = text
    for name in REQUIRED:
        if name not in values:
            return Rejected(line, N_("The column %(column)s is empty."), {"column": name})
    profile = PROFILES.get(_key(str(values["profile"])))
    if profile is None:
        return Rejected(line, N_("Unknown profile %(value)s."), {"value": values["profile"]})
    values["profile"] = profile
    if "birth_date" in values:
        born = parse_date(str(values["birth_date"]))
        if born is None:
            return Rejected(
                line,
                N_("Invalid birth date %(value)s (expected dd/mm/yyyy)."),
                {"value": values["birth_date"]},
            )
        values["birth_date"] = born
    if "login" in values:
        login = str(values["login"]).casefold()
        if not LOGIN_RE.fullmatch(login):
            return Rejected(line, N_("Invalid login %(value)s."), {"value": values["login"]})
        values["login"] = login
    if "personal_email" in values and not EMAIL_RE.fullmatch(str(values["personal_email"])):
        return Rejected(
            line, N_("Invalid e-mail address %(value)s."), {"value": values["personal_email"]}
        )
    if "mobile" in values and not MOBILE_RE.fullmatch(str(values["mobile"])):
        return Rejected(line, N_("Invalid mobile number %(value)s."), {"value": values["mobile"]})
    return Row(line, values)


def parse_csv(data: bytes, max_bytes: int) -> Plan:
    """Read the whole file; a problem with the file raises, a problem with a line rejects it."""
    if len(data) > max_bytes:
        raise CsvFileError(
            N_("The file is too large (%(size)s MB; at most %(max)s MB)."),
            size=round(len(data) / MB, 1),
            max=round(max_bytes / MB, 1),
        )
    if not data.strip():
        raise CsvFileError(N_("The file is empty."))
    text, encoding = decode(data)
    delimiter = _delimiter(text[:4096])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise CsvFileError(N_("The first line must name the columns.")) from exc
    fields: list[str | None] = [COLUMNS.get(_key(h)) for h in header]
    known = [f for f in fields if f]
    missing = [f for f in REQUIRED if f not in known]
    if missing:
        raise CsvFileError(
            N_("Missing columns: %(columns)s. Expected at least: nom, prenom, profil."),
            columns=", ".join(missing),
        )
    duplicated = sorted({f for f in known if known.count(f) > 1})
    if duplicated:
        raise CsvFileError(N_("Columns given twice: %(columns)s."), columns=", ".join(duplicated))
    plan = Plan(encoding=encoding, delimiter=delimiter, columns=known)
    seen: dict[tuple[str, str], int] = {}
    try:
        for index, cells in enumerate(reader, start=2):
            if index > MAX_LINES + 1:
                raise CsvFileError(N_("Too many lines (at most %(max)s)."), max=MAX_LINES)
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                plan.rejected.append(
                    Rejected(
                        index,
                        N_("Expected %(expected)s columns, found %(found)s."),
                        {"expected": len(header), "found": len(cells)},
                    )
                )
                continue
            raw = {f: cells[i] for i, f in enumerate(fields) if f}
            result = _row(index, raw)
            if isinstance(result, Rejected):
                plan.rejected.append(result)
                continue
            clash = None
            for unique in ("login", "student_number", "ine", "personnel_number", "external_id"):
                value = result.values.get(unique)
                if value is not None and (unique, str(value)) in seen:
                    clash = Rejected(
                        index,
                        N_("Duplicate %(column)s %(value)s (already on line %(other)s)."),
                        {"column": unique, "value": value, "other": seen[(unique, str(value))]},
                    )
                    break
            if clash:
                plan.rejected.append(clash)
                continue
            for unique in ("login", "student_number", "ine", "personnel_number", "external_id"):
                value = result.values.get(unique)
                if value is not None:
                    seen[(unique, str(value))] = index
            plan.rows.append(result)
    except csv.Error as exc:
        raise CsvFileError(
            N_("The file is not valid CSV near line %(line)s."), line=reader.line_num
        ) from exc
    return plan


def make_login(given_name: str, family_name: str) -> str:
    """prenom.nom in lowercase ASCII, as ENT logins usually are (seed 001)."""

    def part(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")

    return f"{part(given_name)}.{part(family_name)}".strip(".")[:100] or "user"
