import numpy as np
def test_probe(tmp_path, import_urls_sync):
    import tifffile
    from stratascope import catalogue
    rgb = np.zeros((90, 130, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb_slide.ome.tif", rgb, photometric="rgb")
    print("RES", import_urls_sync([str(tmp_path / "rgb_slide.ome.tif")]))
    print("NAMED", catalogue.images_named("rgb_slide"))
