import os, httpx
from test_zarr_http import *  # noqa

def test_dbg(server, v04_image, cold, tmp_path):
    image_id, truth, folder = v04_image
    url = f"{server}/zarr/{image_id}.zarr"
    cold()
    from stratascope.cachetier import get_cache
    for i in range(2):
        b = SOURCE_REQUESTS.snapshot()
        r = httpx.get(f"{url}/0/0/0/0/0/0")
        print(r.status_code, (SOURCE_REQUESTS.snapshot() - b).requests)
    c = get_cache(); print("tier", c.url, c.enabled, c.max_bytes)
    print(os.listdir(tmp_path))
    print([ (d, len(f)) for d, _, f in os.walk(tmp_path / "cache-tier-0")])
