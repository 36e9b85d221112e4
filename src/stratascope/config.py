"""Settings from the environment and an optional `stratascope.toml`.

Environment variables win over the file. The file is looked up at
`$STRATASCOPE_CONFIG`, then `./stratascope.toml`, then `$STRATASCOPE_HOME/stratascope.toml`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    number = int(value) if value not in (None, "") else int(default)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def _auth_table(data: dict) -> dict:
    section = dict(data.get("auth", {}))
    for key, env in (("session_secret", "STRATASCOPE_SESSION_SECRET"), ("session_max_age", "STRATASCOPE_SESSION_MAX_AGE"),
                     ("secure_cookie", "STRATASCOPE_SECURE_COOKIE")):
        if os.environ.get(env):
            section[key] = os.environ[env]
    return section


@dataclass
class Settings:
    home: Path
    database_url: str
    cache_url: str
    cache_max_bytes: int
    chunk_memory_bytes: int
    max_region_pixels: int
    read_only: bool
    #: per-store overrides, keyed by "s3://bucket" (or "gs://bucket", ...)
    stores: dict[str, dict] = field(default_factory=dict)
    #: URL prefixes import may read from; empty means "any" (the CLI is admin-only)
    allowed_prefixes: list[str] = field(default_factory=list)
    config_file: Path | None = None
    #: defaults for boto3 (archive classes, `check`) — obstore reads the same AWS_* variables itself
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    #: obstore ignores AWS_ALLOW_HTTP once client options are passed explicitly
    aws_allow_http: bool = False
    overview_max_side: int = 1024
    overview_max_planes: int = 64
    #: bytes one pixel read may return (t x c x z x y x x x itemsize), every read path
    max_read_bytes: int = 512 * 2**20
    #: chunks one pixel read may touch
    max_chunks_per_request: int = 4096
    #: chunk reads one pixel read keeps in flight
    request_fetch_concurrency: int = 16
    #: source fetches one reader (so one process) keeps in flight, all requests together
    max_concurrent_fetches: int = 64
    #: the `[auth]` table of stratascope.toml, with STRATASCOPE_SESSION_* from the environment
    auth: dict = field(default_factory=dict)
    #: [server] max_body_bytes: largest request body accepted (413 above it, before reading it)
    max_body_bytes: int = 2**20
    #: [server] allowed_origins: other origins (scheme://host[:port]) whose pages may POST to us
    allowed_origins: list[str] = field(default_factory=list)
    #: [auth] login_max_failures / login_failure_window_seconds: failed logins per user name and
    #: per client address within the window before /auth/login answers 429
    login_max_failures: int = 5
    login_failure_window_seconds: int = 300
    #: [import] limits on what one image's metadata may claim, and on one image's import time
    import_max_channels: int = 10_000
    import_max_levels: int = 64
    import_max_metadata_bytes: int = 16 * 2**20
    import_max_chunks_per_level: int = 2**24
    import_timeout_seconds: int = 300

    @property
    def thumbnail_dir(self) -> Path:
        return self.home / "cache"


def _find_config_file(home: Path) -> Path | None:
    candidates = [os.environ.get("STRATASCOPE_CONFIG"), "stratascope.toml", home / "stratascope.toml"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_settings() -> Settings:
    home = Path(os.environ.get("STRATASCOPE_HOME", Path.home() / ".local/share/stratascope"))
    config_file = _find_config_file(home)
    data: dict = {}
    if config_file:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
    server = data.get("server", {})
    cache = data.get("cache", {})
    auth = data.get("auth", {})
    imports = data.get("import", {})
    database_url = os.environ.get("STRATASCOPE_DATABASE_URL") or data.get("database", {}).get("url")
    return Settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'catalogue.sqlite'}",
        cache_url=os.environ.get("STRATASCOPE_CACHE_URL") or cache.get("url") or str(home / "cache"),
        cache_max_bytes=_env_int("STRATASCOPE_CACHE_MAX_BYTES", cache.get("max_bytes", 10 * 2**30)),
        chunk_memory_bytes=_env_int("STRATASCOPE_CHUNK_MEMORY_BYTES", cache.get("memory_bytes", 512 * 2**20)),
        max_region_pixels=_env_int("STRATASCOPE_MAX_REGION_PIXELS", server.get("max_region_pixels", 16_000_000)),
        read_only=_env_bool("STRATASCOPE_READ_ONLY", server.get("read_only", False)),
        stores=data.get("stores", {}),
        allowed_prefixes=list(imports.get("allowed_prefixes", [])),
        config_file=config_file,
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT"),
        aws_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        aws_allow_http=_env_bool("AWS_ALLOW_HTTP"),
        overview_max_side=_env_int("STRATASCOPE_OVERVIEW_MAX_SIDE", data.get("overviews", {}).get("max_side", 1024), 1),
        overview_max_planes=_env_int("STRATASCOPE_OVERVIEW_MAX_PLANES",
                                     data.get("overviews", {}).get("max_planes", 64), 1),
        max_read_bytes=_env_int("STRATASCOPE_MAX_READ_BYTES", server.get("max_read_bytes", 512 * 2**20), 1),
        max_chunks_per_request=_env_int("STRATASCOPE_MAX_CHUNKS_PER_REQUEST",
                                        server.get("max_chunks_per_request", 4096), 1),
        request_fetch_concurrency=_env_int("STRATASCOPE_REQUEST_FETCH_CONCURRENCY",
                                           server.get("request_fetch_concurrency", 16), 1),
        max_concurrent_fetches=_env_int("STRATASCOPE_MAX_CONCURRENT_FETCHES",
                                        server.get("max_concurrent_fetches", 64), 1),
        auth=_auth_table(data),
        max_body_bytes=_env_int("STRATASCOPE_MAX_BODY_BYTES", server.get("max_body_bytes", 2**20)),
        allowed_origins=[str(o).rstrip("/") for o in server.get("allowed_origins", [])],
        login_max_failures=_env_int("STRATASCOPE_LOGIN_MAX_FAILURES", auth.get("login_max_failures", 5)),
        login_failure_window_seconds=_env_int("STRATASCOPE_LOGIN_FAILURE_WINDOW_SECONDS",
                                              auth.get("login_failure_window_seconds", 300)),
        import_max_channels=_env_int("STRATASCOPE_IMPORT_MAX_CHANNELS", imports.get("max_channels", 10_000)),
        import_max_levels=_env_int("STRATASCOPE_IMPORT_MAX_LEVELS", imports.get("max_levels", 64)),
        import_max_metadata_bytes=_env_int("STRATASCOPE_IMPORT_MAX_METADATA_BYTES",
                                           imports.get("max_metadata_bytes", 16 * 2**20)),
        import_max_chunks_per_level=_env_int("STRATASCOPE_IMPORT_MAX_CHUNKS_PER_LEVEL",
                                             imports.get("max_chunks_per_level", 2**24)),
        import_timeout_seconds=_env_int("STRATASCOPE_IMPORT_TIMEOUT_SECONDS", imports.get("timeout_seconds", 300)),
    )
