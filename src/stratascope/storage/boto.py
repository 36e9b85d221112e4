"""boto3 S3 clients for the few calls obstore lacks (storage class, RestoreObject, versioning).

Built from the same AWS_* defaults (read in config.py) and `[stores."s3://bucket"]` table as the
obstore store, so both talk to the same endpoint with the same keys.
"""

from __future__ import annotations

#: obstore's S3 config keys (and their aliases) -> boto3.client() keyword arguments
_ALIASES = {
    "endpoint_url": ("aws_endpoint", "endpoint", "aws_endpoint_url", "endpoint_url"),
    "region_name": ("aws_region", "region"),
    "aws_access_key_id": ("aws_access_key_id", "access_key_id"),
    "aws_secret_access_key": ("aws_secret_access_key", "secret_access_key"),
    "aws_session_token": ("aws_session_token", "session_token", "token"),
}


def client_kwargs(table: dict, endpoint_url: str | None, region: str | None) -> dict[str, str]:
    """boto3.client("s3", **kwargs) arguments: the defaults, then the bucket's own table."""
    table = {k.lower(): v for k, v in table.items()}
    kwargs = {"endpoint_url": endpoint_url, "region_name": region}
    for name, keys in _ALIASES.items():
        for key in keys:
            if table.get(key):
                kwargs[name] = str(table[key])
    return {k: v for k, v in kwargs.items() if v}


def boto3_s3_client(table: dict, endpoint_url: str | None, region: str | None):
    """A new boto3 S3 client (keys: AWS_* env / profile, as boto3 resolves them)."""
    import boto3

    return boto3.client("s3", **client_kwargs(table, endpoint_url, region))


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError (e.g. "InvalidObjectState"), else the type name."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))
