"""Projects, datasets, images, levels, channels and source objects (SQLAlchemy 2 + Alembic)."""

from .db import Catalogue
from .errors import CatalogueError, NotFound, ReadOnlyCatalogue
from .records import DatasetRecord, ImageRecord, ProjectRecord
from .repository import (
    ensure_dataset,
    get_dataset,
    get_image,
    get_project,
    image_access,
    image_ids_for_url,
    images_named,
    list_datasets,
    list_images,
    list_projects,
    recorded_sources,
    refile_image,
    register_image,
    register_image_reporting,
    set_channel_ranges,
    set_image_status,
)

__all__ = [
    "Catalogue", "CatalogueError", "DatasetRecord", "ensure_dataset", "ImageRecord", "NotFound", "ProjectRecord",
    "ReadOnlyCatalogue",
    "get_dataset", "get_image", "get_project", "image_access", "image_ids_for_url", "images_named", "list_datasets",
    "list_images", "list_projects", "recorded_sources", "refile_image", "register_image",
    "register_image_reporting", "set_channel_ranges", "set_image_status",
]
