"""boto3 S3 clients for the few calls obstore lacks (storage class, RestoreObject, versioning).

Built from the same AWS_* environment and `[stores."s3://bucket"]` table as the obstore
store, so both talk to the same endpoint with the same keys.
"""

from __future__ import annotations

import os

from ..config import get_settings
from .urls import Location

#: obstore's S3 config keys (and their aliases) -> boto3.client() keyword arguments
_ALIASES = {
    "endpoint_url": ("aws_endpoint", "endpoint", "aws_endpoint_url", "endpoint_url"),
    "region_name": ("aws_region", "region"),
    "aws_access_key_id": ("aws_access_key_id", "access_key_id"),
    "aws_secret_access_key": ("aws_secret_access_key", "secret_access_key"),
    "aws_session_token": ("aws_session_token", "session_token", "token"),
}


def client_kwargs(root: str) -> dict[str, str]:
    """boto3.client("s3", **kwargs) arguments for a store root such as "s3://bucket"."""
    table = {k.lower(): v for k, v in get_settings().stores.get(root, {}).items()}
    kwargs = {"endpoint_url": os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT"),
              "region_name": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")}
    for name, keys in _ALIASES.items():
        for key in keys:
            if table.get(key):
                kwargs[name] = str(table[key])
    return {k: v for k, v in kwargs.items() if v}


def boto3_client(location: Location):
    """A new boto3 S3 client for the bucket, or None when boto3 is not installed."""
    try:
        import boto3
    except ImportError:
        return None
    return boto3.client("s3", **client_kwargs(location.root))  # keys: AWS_* env / profile, as boto3 resolves them


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError (e.g. "InvalidObjectState"), else the type name."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))
