"""Source stores are never written: moto's own request recorder sees a whole session of
import + serve + render + download + verify, with the cache tier in a bucket of its own,
and every request that is not a GET or HEAD lands under the cache tier's prefix."""

from __future__ import annotations

import urllib.request
from urllib.parse import unquote, urlsplit

from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

READS = {"GET", "HEAD"}


def _recorder(moto_server, action: str) -> None:
    request = urllib.request.Request(f"{moto_server.endpoint}/moto-api/recorder/{action}", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def _bucket_and_key(entry: dict) -> tuple[str, str]:
    parts = urlsplit(entry["url"])
    host = entry["headers"].get("Host", parts.netloc).split(":")[0]
    path = unquote(parts.path).lstrip("/")
    if host.count(".") and not host.replace(".", "").isdigit() and host != "localhost":  # virtual-hosted style
        return host.split(".", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def test_a_whole_session_never_writes_to_a_source_bucket(
    tmp_path, s3, bucket, upload, moto_server, monkeypatch, import_urls_sync, make_services
):
    write_ome_zarr_v04(tmp_path / "img.zarr", smooth_array((2, 1, 128, 160), seed=21))
    write_tiff_pyramid(tmp_path / "img.ome.tif", smooth_array((2, 128, 128), seed=22), levels=2, tile=(64, 64))
    zarr_url = upload(tmp_path / "img.zarr", "lab/img.zarr")
    tiff_url = upload(tmp_path / "img.ome.tif", "lab/img.ome.tif")
    cache_bucket = f"{bucket}-cache"
    s3.create_bucket(Bucket=cache_bucket)
    monkeypatch.setenv("STRATASCOPE_CACHE_URL", f"s3://{cache_bucket}/tier/")
    services = make_services()  # with the cache tier in its own bucket

    _recorder(moto_server, "reset-recording")
    _recorder(moto_server, "start-recording")
    try:
        results = import_urls_sync([f"s3://{bucket}/lab"], services, project="P", dataset="D")
        ids = [r.id for r in results]
        assert all(r.status == "imported" for r in results), results
        _serve_everything(services, ids)
        from stratascope.integrity.verify import verify

        report = verify(services.catalogue, services.source, ids)
        assert report is not None
        import_urls_sync([zarr_url, tiff_url], services)  # re-import: "unchanged"
    finally:
        _recorder(moto_server, "stop-recording")
    log = moto_server.requests_log()

    touched = [(e["method"], *_bucket_and_key(e)) for e in log]
    assert any(m in READS and b == bucket for m, b, _ in touched), "the recorder saw no source read"
    writes = [(m, b, k) for m, b, k in touched if m not in READS]
    wrong = [w for w in writes if w[1] != cache_bucket or not w[2].startswith("tier/")]
    assert not wrong, f"requests that write outside the cache tier's prefix: {wrong[:10]}"
    assert any(b == cache_bucket for _, b, _ in writes), "the cache tier wrote nothing: the check proved little"


def _serve_everything(services, ids: list[int]) -> None:
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    with TestClient(create_app(services)) as client:
        for image_id in ids:
            for url in (
                f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,0,0&format=png",
                f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,1,1",
                f"/webgateway/render_image/{image_id}/",
                f"/webgateway/render_thumbnail/{image_id}/",
                f"/webgateway/imgData/{image_id}/",
                f"/webgateway/histogram_json/{image_id}/channel/0/",
                f"/iiif/3/{image_id}/full/max/0/default.png",
                f"/zarr/{image_id}.zarr/.zattrs",
                f"/zarr/{image_id}.zarr/0/.zarray",
                f"/webgateway/archived_files/download/{image_id}/",
            ):
                response = client.get(url)
                # an OME-Zarr has no single original file to download: 409 with a clear message
                ok = (200, 409) if "archived_files" in url else (200,)
                assert response.status_code in ok, (url, response.status_code, response.text[:200])
