"""Import images in place: metadata only, chunk manifests into the catalogue."""

from .run import ImportOptions, ImportResult, import_urls

__all__ = ["ImportOptions", "ImportResult", "import_urls"]
