import io, numpy as np
from PIL import Image
def test_probe(client, sample_zarr):
    image_id, truth = sample_zarr
    a = np.asarray(Image.open(io.BytesIO(client.get(f"/iiif/3/{image_id}/full/max/0/default.png").content)))
    b = np.asarray(Image.open(io.BytesIO(client.get("/iiif/3/image/full/max/0/default.png").content)))
    c = np.asarray(Image.open(io.BytesIO(client.get(f"/iiif/3/{image_id}/full/max/0/default.png").content)))
    d = np.asarray(Image.open(io.BytesIO(client.get(f"/iiif/3/{image_id}/full/max/0/default.png?z=1").content)))
    print("AB", np.abs(a.astype(int)-b).max(), (a!=b).sum(), "AC", (a!=c).sum(), "AD", (a!=d).sum())
