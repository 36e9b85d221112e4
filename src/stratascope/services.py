"""The services object: everything a request or a command needs, built once and passed down.

`create_app()` and the CLI's entry point each build one (`build_services`); handlers get it
from the app (`api/deps.py`), everything below takes the parts it needs as arguments. There is
no module-level mutable state elsewhere: tests build their own services (e.g. with a short
`RetryPolicy`) and close them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial

from .auth.sessions import AuthSettings, auth_settings
from .auth.throttle import LoginThrottle
from .cachetier import LazyCache
from .catalogue import get_image
from .catalogue.db import Catalogue
from .config import Settings, load_settings
from .pixels import CachedFetch, CodecFactory, OverviewSupport, PixelReader, ReadLimits, SourceFetch
from .pixels.overview_chunks import BASE_MEMORY_BYTES
from .storage import RetryPolicy, SourceReader, StoreRegistry
from .storage.archive import ArchiveInspector
from .ttl import TtlCache

#: image records and principals are reused this long: re-imports, visibility and role changes
#: reach every replica within seconds
RECORD_TTL_SECONDS = 5.0


@dataclass
class Services:
    settings: Settings
    stores: StoreRegistry
    source: SourceReader
    archive: ArchiveInspector
    catalogue: Catalogue
    cache: LazyCache
    #: the serving reader: chunk LRU and the cache tier in front of the source
    reader: PixelReader
    #: reads straight from the source, past the cache tier (overviews are computed with it)
    base_reader: PixelReader
    #: failed logins per user name and client address (docs/security.md)
    login_throttle: LoginThrottle
    #: image id -> (record, access) for request handlers (api/lookup.py)
    records: TtlCache = field(default_factory=lambda: TtlCache(RECORD_TTL_SECONDS, 1024))
    #: (kind, credential) -> Principal for the auth middleware
    principals: TtlCache = field(default_factory=lambda: TtlCache(RECORD_TTL_SECONDS, 4096))
    #: (name, principal) -> image id for IIIF identifiers that are names
    names: TtlCache = field(default_factory=lambda: TtlCache(RECORD_TTL_SECONDS, 4096))

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @cached_property
    def auth(self) -> AuthSettings:
        """Session-cookie settings (reads, or creates once, the secret in STRATASCOPE_HOME)."""
        return auth_settings(self.settings)

    def forget_memory(self) -> None:
        """Drop what this process holds in memory: decoded chunks, image records, principals,
        names, open stores, and the open cache tier (its entries stay on disk). What a restart
        would forget, without one; the next requests read the catalogue and stores again."""
        self.reader.forget()
        self.base_reader.forget()
        for cache in (self.records, self.principals, self.names):
            cache.clear()
        self.stores.clear()
        self.archive.forget()
        self.cache.close()

    def close(self) -> None:
        """Write the cache tier's buffered counters and release database connections."""
        self.cache.close()
        self.catalogue.dispose()


def read_limits(settings: Settings) -> ReadLimits:
    """The bounds of every pixel read (bytes, chunks, fetches in flight) from the settings."""
    return ReadLimits(max_bytes=settings.max_read_bytes, max_chunks=settings.max_chunks_per_request,
                      request_concurrency=settings.request_fetch_concurrency,
                      max_concurrent_fetches=settings.max_concurrent_fetches)


def build_services(settings: Settings | None = None, *, retry: RetryPolicy | None = None,
                   read_only: bool | None = None) -> Services:
    """Services from `settings` (default: the environment and stratascope.toml)."""
    settings = settings or load_settings()
    if read_only is not None and read_only != settings.read_only:
        settings = replace(settings, read_only=read_only)
    stores = StoreRegistry(settings.stores, retry=retry, allow_http=settings.aws_allow_http)
    source = SourceReader(stores)
    catalogue = Catalogue(settings.database_url, read_only=settings.read_only)
    cache = LazyCache(settings.cache_url, settings.cache_max_bytes, settings.home, stores)
    limits = read_limits(settings)
    base_reader = PixelReader(BASE_MEMORY_BYTES, fetch=SourceFetch(source), limits=limits)
    overviews = OverviewSupport(cache, base_reader, partial(get_image, catalogue))
    reader = PixelReader(settings.chunk_memory_bytes, fetch=CachedFetch(SourceFetch(source), cache),
                         codecs=CodecFactory(overviews), limits=limits)
    archive = ArchiveInspector(settings.stores, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
    return Services(settings=settings, stores=stores, source=source, archive=archive, catalogue=catalogue,
                    cache=cache, reader=reader, base_reader=base_reader,
                    login_throttle=LoginThrottle.from_settings(settings))
