"""Import: discover images under URLs, read their metadata, register them atomically.

One failing image never stops the others; an image is registered in one transaction or
not at all; re-running an interrupted bulk import skips what is already registered and
unchanged (checked against the listing, without reading those images again).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace

from .. import catalogue
from ..catalogue.plates import ensure_screen, register_plate
from ..formats.model import FormatError, ImageLimits, ImageSpec, PlateSpec, check_import_limits
from ..formats.ome_zarr import read_ome_zarr
from ..formats.tiff import read_tiff
from ..services import Services
from ..storage import NotAllowed, StorageError
from ..storage.urls import parse_url
from .discover import Candidate, discover

log = logging.getLogger(__name__)
CONCURRENCY = 8


@dataclass
class ImportResult:
    id: int | None
    name: str
    url: str
    status: str  # imported | updated | moved | renamed | unchanged | failed
    error: str | None = None
    plate_id: int | None = None  # set for the fields of an HCS plate
    detail: str | None = None  # what a re-import changed: "moved from P / D to P2 / D2", "renamed from ..."

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("plate_id", "detail"):  # the JSON lines of plain images keep their five keys
            if out[key] is None:
                del out[key]
        return out


@dataclass
class ImportOptions:
    project: str | None = None
    dataset: str | None = None
    name: str | None = None
    screen: str | None = None  # HCS plates are filed under this screen (None: no screen)
    #: async callable(services, image id) run after an image is registered or updated (thumbnails, statistics)
    after_register: Callable[[Services, int], Awaitable[None]] | None = None


def check_allowed(url: str, allowed: list[str]) -> None:
    if not allowed:
        return
    location = parse_url(url)
    target = location.url
    if location.scheme == "file":  # a symlink under an allowed folder may point anywhere
        target = "file:///" + os.path.realpath("/" + location.key).lstrip("/")
    for prefix in allowed:
        base_location = parse_url(prefix)
        base = base_location.url.rstrip("/")
        if base_location.scheme == "file":
            base = "file:///" + os.path.realpath("/" + base_location.key).lstrip("/")
            base = base.rstrip("/")
        if target == base or target.startswith(base + "/"):
            return
    raise NotAllowed(f"{url} is not under an allowed import prefix ({', '.join(allowed)})")


async def read_specs(services: Services, candidate: Candidate) -> list[ImageSpec] | PlateSpec:
    """The images of a candidate, or the HCS plate it holds (with every field's image)."""
    settings = services.settings
    if candidate.kind == "tiff":
        specs = await read_tiff(candidate.url, reader=services.source)
    else:
        limits = ImageLimits(max_metadata_bytes=settings.import_max_metadata_bytes,
                             max_levels=settings.import_max_levels)
        # a prefix import's listing tells which chunk objects were absent at import
        specs = await read_ome_zarr(candidate.url, reader=services.source, limits=limits,
                                    objects=candidate.objects)
    for spec in specs.images if isinstance(specs, PlateSpec) else specs:
        # before anything is registered or derived
        check_import_limits(spec, max_channels=settings.import_max_channels, max_levels=settings.import_max_levels,
                            max_chunks_per_level=settings.import_max_chunks_per_level)
    if isinstance(specs, PlateSpec):
        specs.images = [await with_storage_classes(services, spec) for spec in specs.images]
        return specs
    return [await with_storage_classes(services, spec) for spec in specs]


async def with_storage_classes(services: Services, spec: ImageSpec) -> ImageSpec:
    """The spec with each S3 source object's storage class (obstore's listings lack it)."""
    missing = [s.url for s in spec.sources if s.storage_class is None]
    if not missing:
        return spec
    try:
        classes = await asyncio.to_thread(services.archive.storage_classes, missing, spec.url)
    except Exception as exc:  # e.g. no s3:GetObject permission for boto3's HEAD: import anyway
        log.warning("storage classes of %s unknown: %s", spec.url, exc)
        return spec
    sources = [replace(s, storage_class=classes.get(s.url, s.storage_class)) for s in spec.sources]
    return replace(spec, sources=sources)


def _unchanged_from_listing(db: catalogue.Catalogue, candidate: Candidate, options: ImportOptions,
                            single: bool) -> list[ImportResult] | None:
    """Results without reading the images when the listing shows their sources unchanged; the
    --project/--dataset/--name of this import still apply (reported as moved / renamed)."""
    if not candidate.listed:
        return None
    recorded = catalogue.recorded_sources(db, candidate.url)
    if not recorded:
        return None
    for sources in recorded.values():
        for src in sources:
            seen = candidate.listed.get(src.url)
            if seen is None or seen.size != src.size or (src.etag and seen.etag != src.etag):
                return None
    image_ids = catalogue.image_ids_for_url(db, candidate.url)
    rename = options.name if (options.name and single and len(image_ids) == 1) else None
    results = []
    for image_id in image_ids:
        status, detail = "unchanged", None
        if options.project or options.dataset or rename:
            status, detail = catalogue.refile_image(db, image_id, project=options.project, dataset=options.dataset,
                                                    name=rename)
        record = catalogue.get_image(db, image_id, full=False)
        results.append(ImportResult(image_id, record.name, candidate.url, status, detail=detail))
    return results


def _why(services: Services, exc: BaseException) -> str:
    return _error_text(exc, services.settings.import_timeout_seconds)


def _error_text(exc: BaseException, timeout_s: int | None = None) -> str:
    if isinstance(exc, (FormatError, StorageError, catalogue.CatalogueError)):
        return str(exc) or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError):
        return f"timed out after {timeout_s} s ([import] timeout_seconds)"
    return f"{type(exc).__name__}: {exc}"


async def import_candidate(services: Services, candidate: Candidate, options: ImportOptions,
                           single: bool) -> list[ImportResult]:
    shortcut = _unchanged_from_listing(services.catalogue, candidate, options, single)
    if shortcut is not None:
        return shortcut
    name = candidate.url.rstrip("/").rsplit("/", 1)[-1]
    loop = asyncio.get_running_loop()
    # one budget for reading, registering and deriving (overviews, statistics, thumbnails)
    deadline = loop.time() + services.settings.import_timeout_seconds
    try:
        specs = await asyncio.wait_for(read_specs(services, candidate), deadline - loop.time())
        if not specs:
            raise FormatError(f"{candidate.url} contains no image")
    except Exception as exc:  # one failing image never stops the others
        log.info("import of %s failed: %s", candidate.url, exc)
        return [ImportResult(None, name, candidate.url, "failed", _why(services, exc))]
    if isinstance(specs, PlateSpec):
        return await import_plate(services, specs, options, deadline)
    results = []
    for spec in specs:
        label = options.name if (options.name and single and len(specs) == 1) else spec.name
        try:
            explicit = label if (options.name and single and len(specs) == 1) else None
            image_id, status, detail, label = await asyncio.to_thread(
                catalogue.register_image_reporting, services.catalogue, spec, project=options.project,
                dataset=options.dataset, name=explicit,
            )
            warning = None
            if options.after_register and status in ("imported", "updated"):
                try:
                    await asyncio.wait_for(options.after_register(services, image_id),
                                           max(deadline - loop.time(), 0.001))
                except Exception as exc:  # registered; only derived data is missing
                    warning = f"registered, but thumbnails or overviews could not be made: {_why(services, exc)}"
            results.append(ImportResult(image_id, label, candidate.url, status, warning, detail=detail))
        except Exception as exc:
            results.append(ImportResult(None, label, candidate.url, "failed", _why(services, exc)))
    return results


async def import_plate(services: Services, plate: PlateSpec, options: ImportOptions,
                       deadline: float | None = None) -> list[ImportResult]:
    """Register a plate with all its fields at once (screen -> plate -> wells -> fields -> images);
    one result per field image. On failure nothing of the plate is registered."""
    try:
        plate_id, _, images = await asyncio.to_thread(register_plate, services.catalogue, plate, screen=options.screen)
    except Exception as exc:
        return [ImportResult(None, plate.name, plate.url, "failed", _why(services, exc))]
    limit = asyncio.Semaphore(CONCURRENCY)  # a plate has hundreds of fields: derive in parallel, bounded

    async def one(spec: ImageSpec, image_id: int, status: str) -> ImportResult:
        warning = None
        if options.after_register and status != "unchanged":
            try:
                async with limit:
                    remaining = None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0.001)
                    await asyncio.wait_for(options.after_register(services, image_id), remaining)
            except Exception as exc:  # registered; only derived data is missing
                warning = f"registered, but thumbnails or overviews could not be made: {_why(services, exc)}"
        return ImportResult(image_id, spec.name, spec.url, status, warning, plate_id)

    return list(await asyncio.gather(*(one(spec, i, s) for spec, (i, s) in zip(plate.images, images))))


async def plan_import(
    services: Services, urls: list[str], options: ImportOptions, on_result: Callable[[ImportResult], None] | None = None,
) -> tuple[list[tuple[Candidate, bool]], list[ImportResult]]:
    """Discover the candidates under `urls` and prepare shared catalogue rows (project, dataset,
    screen) once, before any image is registered; returns (work, failures). Shared by the
    in-process import below and the Dask one (stratascope.jobs), which runs the work elsewhere."""
    if services.read_only:  # refuse before reading anything
        message = ("read-only mode (serve --read-only / STRATASCOPE_READ_ONLY=1): import would change the "
                   "catalogue; run it without read-only mode")
        refused = [ImportResult(None, url.rstrip("/").rsplit("/", 1)[-1], url, "failed", message) for url in urls]
        for result in refused:
            if on_result:
                on_result(result)
        return [], refused
    work: list[tuple[Candidate, bool]] = []
    failed: list[ImportResult] = []
    for url in urls:
        try:
            check_allowed(url, services.settings.allowed_prefixes)
            # obstore follows redirects, which would bypass the allow-list (issue 14 #1)
            await services.source.refuse_redirects(url)
            candidates, listed = await discover(url, services.source)
            if not candidates:
                raise FormatError(f"no OME-Zarr or TIFF images found under {url}")
            for cand in candidates:  # each TIFF found under a prefix too (its bytes may be downloaded)
                if cand.kind == "tiff" and cand.url != url:
                    await services.source.refuse_redirects(cand.url)
        except Exception as exc:
            result = ImportResult(None, url.rstrip("/").rsplit("/", 1)[-1], url, "failed", _why(services, exc))
            failed.append(result)
            if on_result:
                on_result(result)
            continue
        work.extend((cand, not listed) for cand in candidates)
    if work:
        await asyncio.to_thread(catalogue.ensure_dataset, services.catalogue, options.project, options.dataset)
        if options.screen:
            await asyncio.to_thread(ensure_screen, services.catalogue, options.screen)
    return work, failed


async def import_urls(
    services: Services, urls: list[str], options: ImportOptions | None = None,
    on_candidates: Callable[[int], None] | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Import every image under `urls`; results in discovery order."""
    options = options or ImportOptions()
    work, failed = await plan_import(services, urls, options, on_result)
    if on_candidates:
        on_candidates(len(work))
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(candidate: Candidate, single: bool) -> list[ImportResult]:
        async with semaphore:
            results = await import_candidate(services, candidate, options, single)
        if on_result:
            for result in results:
                on_result(result)
        return results

    batches = await asyncio.gather(*(one(c, s) for c, s in work))
    return failed + [r for batch in batches for r in batch]
