"""Catalogue errors; api/ maps them to HTTP statuses."""


class CatalogueError(Exception):
    """Root of catalogue failures."""


class NotFound(CatalogueError):
    """No such project, dataset or image."""


class ReadOnlyCatalogue(CatalogueError):
    """A write was attempted in read-only mode."""
