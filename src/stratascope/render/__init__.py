"""Rendering: OMERO.web rendering parameters, LUTs, compositing, projections, encoding.

Pure numpy, no HTTP, except `pipeline`, the bridge that reads the planes through `pixels`
and hands them to the pure modules.
"""
