"""Bulk jobs on Dask: import and cache warming spread over the processes of a cluster.

The client (the `stratascope` command) plans the work — discovery, image selection,
shared catalogue rows — and submits one task per unit of work: one import candidate, or
one slice of one level's chunk grid. Workers are ordinary Python processes that build
their own stratascope state (settings, stores, catalogue engine, cache tier) from their
environment, so they must see the same catalogue and cache tier as the client;
`check_workers` verifies that before anything is submitted. See docs/deployment.md.
"""

from .cluster import JobError, check_workers, dask_client
from .imports import import_on_cluster
from .warm import warm_on_cluster

__all__ = ["JobError", "check_workers", "dask_client", "import_on_cluster", "warm_on_cluster"]
