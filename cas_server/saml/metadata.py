"""Where the service providers come from: local metadata files and federation aggregates.

An aggregate (SAML metadata 2.3.1, an ``EntitiesDescriptor``) is trusted only when its
root carries one enveloped signature that verifies with the certificate pinned in the
configuration (never a key found in the document: pysaml2's own loader accepts an
unsigned aggregate) and when its ``validUntil`` is present and in the future
(SAML metadata interoperability 2.1; the federation's technical profile). A refresh
that fails keeps the last good copy until its own ``validUntil``; a good one is
written to ``metadata_cache_dir`` atomically, so a restart without network still
knows the SPs. Local files are the administrator's own and are read as they are.

The pysaml2 ``MetadataStore`` the identity provider reads is rebuilt after each
change and swapped in one assignment: readers never see a half-loaded store.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData, MetadataStore

from ..observability.metrics import (
    SAML_METADATA_ENTITIES,
    SAML_METADATA_LAST_SUCCESS,
    SAML_METADATA_OK,
)
from ..protocol.cas.ports import Clock
from ..settings.saml import SamlSettings
from .aggregates import (
    ENTITIES,
    ENTITY,
    MetadataError,
    parse_entities,
    service_providers_only,
    verify_aggregate,
    write_atomically,
)
from .signing import UnsafeXml, parse_xml

log = logging.getLogger(__name__)

MAX_FILE = 16 * 1024 * 1024
WAKE_UP = 60.0  # the background thread looks at the cache and the files this often
_JITTER = random.SystemRandom()

HttpGet = Callable[[str, int], bytes]


@dataclass(frozen=True)
class SourceStatus:
    name: str
    kind: str  # "file" | "federation"
    ok: bool
    entities: int
    last_success: float | None
    last_attempt: float | None
    error: str | None
    valid_until: float | None


@dataclass
class _Loaded:
    metadata: InMemoryMetaData
    valid_until: float | None
    stamp: float  # mtime of the file it came from (cache or local file)


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "federation"


class MetadataSources:
    """Every SP metadata source, its status, and the merged pysaml2 store."""

    def __init__(self, settings: SamlSettings, http_get: HttpGet, clock: Clock) -> None:
        self.settings = settings
        self.http_get = http_get
        self.clock = clock
        self._lock = threading.RLock()
        self._loaded: dict[str, _Loaded] = {}
        self._status: dict[str, SourceStatus] = {}
        self._federations = {f.name: f for f in settings.federations}
        self._files: list[str] = []
        self.store: MetadataStore = self._empty_store()
        self.version = 0  # bumped each time ``store`` is replaced
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_refresh: dict[str, float] = {}

    # -- reading -------------------------------------------------------------------

    @staticmethod
    def _empty_store() -> MetadataStore:
        return MetadataStore(ac_factory(), None, check_validity=True)

    def cache_path(self, name: str) -> Path:
        return Path(self.settings.metadata_cache_dir) / f"{_safe_name(name)}.xml"

    def source_of(self, entity_id: str) -> str | None:
        """``file:<path>`` or ``federation:<name>`` of the source that defines the entity."""
        for name, metadata in self.store.metadata.items():
            if entity_id in metadata:
                return str(name)
        return None

    def status(self) -> list[SourceStatus]:
        with self._lock:
            return [self._status[name] for name in self._order() if name in self._status]

    def _order(self) -> list[str]:
        return [f"file:{p}" for p in self._files] + [f"federation:{n}" for n in self._federations]

    # -- loading -------------------------------------------------------------------

    def _file_paths(self) -> list[str]:
        paths: list[str] = []
        for pattern in self.settings.sp_files:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            paths.extend(p for p in matches if p not in paths)
        return paths

    def load(self) -> None:
        """Local files and the cached aggregates; no network (at start)."""
        with self._lock:
            self._files = self._file_paths()
            for path in self._files:
                self._load_file(path)
            for name in self._federations:
                self._load_cache(name)
            self._rebuild()

    def _record(self, key: str, kind: str, **changes: Any) -> None:
        now = self.clock.now()
        old = self._status.get(key) or SourceStatus(
            key.split(":", 1)[1], kind, False, 0, None, None, None, None
        )
        status = replace(old, last_attempt=now, **changes)
        if status.ok:
            status = replace(status, last_success=now, error=None)
        self._status[key] = status
        labelled = (SAML_METADATA_OK, SAML_METADATA_LAST_SUCCESS, SAML_METADATA_ENTITIES)
        ok, last, count = (metric.labels(status.name) for metric in labelled)
        ok.set(1 if status.ok else 0)
        count.set(status.entities)
        if status.last_success is not None:
            last.set(status.last_success)

    def _load_file(self, path: str) -> None:
        key = f"file:{path}"
        try:
            stamp = os.stat(path).st_mtime
            loaded = self._loaded.get(key)
            if loaded is not None and loaded.stamp == stamp:
                return
            data = Path(path).read_bytes()
            root = parse_xml(data, max_size=MAX_FILE)
            if root.tag not in (ENTITIES, ENTITY):
                raise MetadataError("not a SAML metadata document")
            metadata = parse_entities(service_providers_only(root), path)
        except (OSError, UnsafeXml, MetadataError) as exc:
            log.warning("SAML metadata file %s refused: %s", path, exc)
            self._loaded.pop(key, None)
            self._record(key, "file", ok=False, entities=0, error=str(exc))
            return
        self._loaded[key] = _Loaded(metadata, None, stamp)
        self._record(key, "file", ok=True, entities=len(metadata))

    def _load_cache(self, name: str) -> bool:
        """The cached copy of an aggregate, if newer than the one in memory and good."""
        key = f"federation:{name}"
        path = self.cache_path(name)
        try:
            stamp = path.stat().st_mtime
        except OSError:
            if key not in self._status:
                self._record(key, "federation", ok=False, entities=0, error="not fetched yet")
            return False
        loaded = self._loaded.get(key)
        if loaded is not None and loaded.stamp >= stamp:
            return False
        try:
            self._install(name, path.read_bytes(), stamp)
        except (OSError, MetadataError) as exc:
            log.warning("cached SAML aggregate %s refused: %s", name, exc)
            if loaded is None:
                self._record(key, "federation", ok=False, entities=0, error=f"cache: {exc}")
            return False
        return True

    def _install(self, name: str, data: bytes, stamp: float) -> None:
        source = self._federations[name]
        entities, until = verify_aggregate(data, source, self.clock.now())
        metadata = parse_entities(entities, name)
        self._loaded[f"federation:{name}"] = _Loaded(metadata, until, stamp)
        self._record(
            f"federation:{name}", "federation", ok=True, entities=len(metadata), valid_until=until
        )

    def refresh(self, name: str | None = None) -> list[SourceStatus]:
        """Fetch and verify the aggregates (one by ``name``, or all) and re-read the files.

        Raises KeyError for an unknown ``name``."""
        if name is not None and name not in self._federations:
            raise KeyError(name)
        names = [name] if name is not None else list(self._federations)
        for federation in names:
            self._fetch(federation)
        with self._lock:
            if name is None:
                self._files = self._file_paths()
                for path in self._files:
                    self._load_file(path)
            self._expire()
            self._rebuild()
            wanted = {f"federation:{n}" for n in names} if name else set(self._order())
            return [self._status[k] for k in self._order() if k in wanted and k in self._status]

    def _fetch(self, name: str) -> None:
        source = self._federations[name]
        key = f"federation:{name}"
        try:
            data = self.http_get(source.url, source.max_size)
            if len(data) > source.max_size:
                raise MetadataError(f"over {source.max_size} bytes")
            with self._lock:
                self._install(name, data, self.clock.now())
        except Exception as exc:  # network, verification, parsing: the last copy stays
            message = str(exc) if isinstance(exc, MetadataError) else type(exc).__name__
            log.warning("SAML aggregate %s not refreshed: %s", name, message)
            with self._lock:
                loaded = self._loaded.get(key)
                count = len(loaded.metadata) if loaded else 0
                self._record(key, "federation", ok=False, entities=count, error=message)
            return
        try:
            write_atomically(self.cache_path(name), data)
        except OSError as exc:
            log.warning("SAML aggregate %s not cached: %s", name, exc)

    def _expire(self) -> None:
        """Forget a last good copy whose own validUntil has passed."""
        now = self.clock.now()
        for key, loaded in list(self._loaded.items()):
            if loaded.valid_until is not None and loaded.valid_until <= now:
                del self._loaded[key]
                self._record(key, "federation", ok=False, entities=0, error="expired")

    def _rebuild(self) -> None:
        store = copy.copy(self.store)
        store.metadata = {k: self._loaded[k].metadata for k in self._order() if k in self._loaded}
        self.store = store
        self.version += 1

    # -- background ------------------------------------------------------------------

    def tick(self) -> None:
        """One pass of the background loop: refresh what is due, pick up newer cache
        copies (``cas-server saml refresh`` in another process) and changed files."""
        now = self.clock.now()
        for name, source in self._federations.items():
            due = self._next_refresh.get(name, 0.0)
            if now >= due:
                jitter = _JITTER.uniform(0.9, 1.1)  # spreads the workers' fetches
                self._next_refresh[name] = now + source.refresh_interval * jitter
                if not self._cache_is_fresh(name, now, source.refresh_interval):
                    self._fetch(name)
        with self._lock:
            for name in self._federations:
                self._load_cache(name)
            self._files = self._file_paths()
            for path in self._files:
                self._load_file(path)
            self._expire()
            self._rebuild()

    def _cache_is_fresh(self, name: str, now: float, interval: float) -> bool:
        """Another worker (or ``cas-server saml refresh``) fetched it lately: the cache
        copy is read instead of fetching the aggregate once more per worker."""
        try:
            return now - self.cache_path(name).stat().st_mtime < 0.8 * interval
        except OSError:
            return False

    def start_background(self) -> None:
        if self._thread is not None or not (self._federations or self.settings.sp_files):
            return
        # The first pass comes a little after start: the cache already answers.
        now = self.clock.now()
        for name in self._federations:
            self._next_refresh.setdefault(name, now + _JITTER.uniform(0, WAKE_UP))

        def loop() -> None:
            while not self._stop.wait(WAKE_UP):
                try:
                    self.tick()
                except Exception:  # never let the thread die
                    log.exception("SAML metadata refresh failed")

        self._thread = threading.Thread(target=loop, name="saml-metadata", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def default_http_get(
    timeout: float | tuple[float, float] = 30.0, verify: str | bool = True
) -> HttpGet:
    """A ``requests`` fetcher with a timeout and a size cap (the adapter's default)."""
    import requests

    def get(url: str, max_size: int) -> bytes:
        with requests.get(url, timeout=timeout, verify=verify, stream=True) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > max_size:
                    raise MetadataError(f"over {max_size} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

    return get
