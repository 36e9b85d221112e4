"""Image formats at import time: OME-Zarr and TIFF / OME-TIFF objects -> a chunk manifest (`model`)."""
