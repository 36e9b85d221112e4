"""Screens, plates and wells over HTTP: the OMERO.web JSON API shapes (omero-web api views +
omero-marshal Screen/Plate/Well/WellSample encoders), the webgateway plate grid (omero-web
plateGrid_json / plategrid.PlateGrid) and imgData's wellId, and privacy of private screens.

Expected dicts are written from those sources, not from our output."""

from __future__ import annotations

import numpy as np
import pytest
from plate_samples import write_plate

from stratascope.catalogue import plates as hcs

OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
BASE = "http://testserver/api/v0/"


@pytest.fixture
def plate(services, tmp_path, import_urls_sync):
    """Plate "Test plate" (wells A/1, A/3, B/2; 2 fields each) in screen "Screen one"."""
    db = services.catalogue
    truth = write_plate(tmp_path / "plate.zarr", "0.5", wells=["A/1", "A/3", "B/2"])
    results = import_urls_sync([str(tmp_path / "plate.zarr")], screen="Screen one")
    assert all(r.status == "imported" for r in results), results
    plate_id = results[0].plate_id
    wells = {w.path: w for w in hcs.list_wells(db, plate_id=plate_id)[0]}
    return {"id": plate_id, "screen": hcs.list_screens(db)[0][0].id, "wells": wells, "truth": truth}


def test_screens(client, plate):
    sid, pid = plate["screen"], plate["id"]
    body = client.get("/api/v0/m/screens/?childCount=true").json()
    assert body == {"data": [{
        "@id": sid, "@type": f"{OME}#Screen", "Name": "Screen one", "omero:childCount": 1,
        "url:plates": f"{BASE}m/screens/{sid}/plates/", "url:screen": f"{BASE}m/screens/{sid}/",
    }], "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 1}}
    one = client.get(f"/api/v0/m/screens/{sid}/")
    assert one.headers["X-OMERO-ApiVersion"] == "0.2"
    assert one.json() == {"data": {"@id": sid, "@type": f"{OME}#Screen", "Name": "Screen one",
                                   "url:plates": f"{BASE}m/screens/{sid}/plates/"}}
    assert client.get(f"/api/v0/m/plates/{pid}/screens/").json()["data"][0]["@id"] == sid
    assert client.get(f"/api/v0/m/screens/?plate={pid + 1}").json()["data"] == []
    assert client.get(f"/api/v0/m/screens/{sid + 1}/").status_code == 404
    assert client.get("/api/v0/m/screens/x/").status_code == 404


def test_plates(client, plate):
    sid, pid = plate["screen"], plate["id"]
    listed = {"@id": pid, "@type": f"{OME}#Plate", "Name": "Test plate", "ColumnNamingConvention": "number",
              "RowNamingConvention": "letter", "Columns": 3, "Rows": 2,
              "url:screens": f"{BASE}m/plates/{pid}/screens/", "url:wells": f"{BASE}m/plates/{pid}/wells/",
              "url:plate": f"{BASE}m/plates/{pid}/"}
    for url in ("/api/v0/m/plates/", f"/api/v0/m/screens/{sid}/plates/", f"/api/v0/m/plates/?screen={sid}"):
        assert client.get(url).json() == {"data": [listed], "meta": {"offset": 0, "limit": 200, "maxLimit": 500,
                                                                     "totalCount": 1}}, url
    single = {key: value for key, value in listed.items() if key != "url:plate"}
    single["omero:wellsampleIndex"] = [0, 1]
    single["url:wellsampleindex_wells"] = [f"{BASE}m/plates/{pid}/wellsampleindex/{i}/wells/" for i in (0, 1)]
    assert client.get(f"/api/v0/m/plates/{pid}/").json() == {"data": single}
    well_id = plate["wells"]["B/2"].id
    assert [p["@id"] for p in client.get(f"/api/v0/m/wells/{well_id}/plates/").json()["data"]] == [pid]
    assert client.get("/api/v0/m/plates/?orphaned=true").json()["data"] == []
    assert client.get(f"/api/v0/m/plates/{pid + 1}/").status_code == 404


def test_wells(client, plate):
    pid, wells = plate["id"], plate["wells"]
    body = client.get(f"/api/v0/m/plates/{pid}/wells/").json()
    assert body["meta"]["totalCount"] == 3
    # omero-web orders wells by column, then row: A1 (0,0), B2 (1,1), A3 (0,2)
    assert [(w["Row"], w["Column"]) for w in body["data"]] == [(0, 0), (1, 1), (0, 2)]
    first = body["data"][0]
    a1 = wells["A/1"]
    assert first == {
        "@id": a1.id, "@type": f"{OME}#Well", "Column": 0, "Row": 0,
        "WellSamples": [{
            "@id": sample.id, "@type": f"{OME}#WellSample",
            "Image": {"@id": sample.image_id, "@type": f"{OME}#Image",
                      "Name": f"Test plate [Well A1, Field {sample.field_index + 1}]", "omero:series": 0,
                      "url:image": f"{BASE}m/images/{sample.image_id}/"},
        } for sample in a1.samples],
        "url:well": f"{BASE}m/wells/{a1.id}/", "url:plates": f"{BASE}m/wells/{a1.id}/plates/",
    }
    one = client.get(f"/api/v0/m/wells/{a1.id}/").json()["data"]
    assert "url:well" not in one and one["url:plates"] == f"{BASE}m/wells/{a1.id}/plates/"
    pixels = one["WellSamples"][0]["Image"]["Pixels"]  # WellView loads Pixels
    assert (pixels["SizeX"], pixels["SizeY"], pixels["SizeC"], pixels["Type"]["value"]) == (56, 40, 2, "uint16")
    by_field = client.get(f"/api/v0/m/plates/{pid}/wellsampleindex/1/wells/").json()["data"]
    assert [[s["@id"] for s in w["WellSamples"]] for w in by_field] == [
        [wells[p].samples[1].id] for p in ("A/1", "B/2", "A/3")]
    paged = client.get(f"/api/v0/m/wells/?plate={pid}&offset=1&limit=1").json()
    assert [w["@id"] for w in paged["data"]] == [wells["B/2"].id] and paged["meta"]["totalCount"] == 3
    assert client.get(f"/api/v0/m/wells/{a1.id + 100}/").status_code == 404


def _cell(sample, well, field: int, name: str, thumb: str) -> dict:
    return {"type": "Image", "id": sample.image_id, "name": name, "description": "", "author": "",
            "wellId": well.id, "field": field, "thumb_url": thumb}


def test_plate_grid(client, plate):
    pid, wells = plate["id"], plate["wells"]
    body = client.get(f"/webgateway/plate/{pid}/?layout=trim").json()
    assert body["collabels"] == [1, 2, 3] and body["rowlabels"] == ["A", "B"]
    grid = body["grid"]
    for cell in (c for row in grid for c in row if c):
        assert isinstance(cell.pop("date"), int)
    a1, a3, b2 = wells["A/1"], wells["A/3"], wells["B/2"]
    first = a1.samples[0]
    assert grid == [
        [_cell(first, a1, 0, "Test plate [Well A1, Field 1]", f"/webgateway/render_thumbnail/{first.image_id}/"),
         None,
         _cell(a3.samples[0], a3, 0, "Test plate [Well A3, Field 1]",
               f"/webgateway/render_thumbnail/{a3.samples[0].image_id}/")],
        [None,
         _cell(b2.samples[0], b2, 0, "Test plate [Well B2, Field 1]",
               f"/webgateway/render_thumbnail/{b2.samples[0].image_id}/"),
         None],
    ]
    assert body["image_sizes"] == [{"x": 56, "y": 40, "image_id": first.image_id}]
    # omero-web's default layout "expand": a multiple of 8 x 12
    expanded = client.get(f"/webgateway/plate/{pid}/").json()
    assert expanded["rowlabels"] == list("ABCDEFGH") and expanded["collabels"] == list(range(1, 13))
    assert len(expanded["grid"]) == 8 and all(len(row) == 12 for row in expanded["grid"])
    assert expanded["grid"][1][1]["id"] == b2.samples[0].image_id
    # field 1, thumbnails of 64 px, and the thumbnail URL answers with a JPEG
    second = client.get(f"/webgateway/plate/{pid}/1/?layout=shrink&size=64").json()
    cell = second["grid"][0][0]
    assert (cell["id"], cell["field"]) == (a1.samples[1].image_id, 1)
    assert cell["thumb_url"] == f"/webgateway/render_thumbnail/{cell['id']}/64/"
    thumb = client.get(cell["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    # acquisition 7 holds both fields of every well; field 1 of it is the second sample
    by_acquisition = client.get(f"/webgateway/plate/{pid}/1/7/?layout=trim").json()
    assert by_acquisition["grid"][1][1]["id"] == b2.samples[1].image_id
    assert client.get(f"/webgateway/plate/{pid}/5/?layout=trim").json()["grid"] == [[None] * 3] * 2
    assert client.get(f"/webgateway/plate/{pid + 1}/").status_code == 404
    assert client.get(f"/webgateway/plate/{pid}/?size=huge").status_code == 400


def test_letter_labels_match_omero():
    from stratascope.api.plates import letter_label

    assert [letter_label(i) for i in (0, 25, 26, 27, 51, 52, 100, 701, 702)] == [
        "A", "Z", "AA", "AB", "AZ", "BA", "CW", "ZZ", "AAA"]


def test_field_pixels_and_img_data(client, plate):
    sample = plate["wells"]["B/2"].samples[1]
    meta = client.get(f"/webgateway/imgData/{sample.image_id}/").json()["meta"]
    assert (meta["wellId"], meta["wellSampleId"]) == (plate["wells"]["B/2"].id, sample.id)
    assert meta["imageName"] == "Test plate [Well B2, Field 2]"
    truth = plate["truth"]["B/2"][1]  # (t, c, z, y, x)
    png = client.get(f"/webgateway/render_image_region/{sample.image_id}/0/0/",
                     params={"region": "0,0,56,40", "c": "1|0:65535$FFFFFF,-2", "format": "png", "m": "g"})
    assert png.status_code == 200
    import io

    from PIL import Image as PILImage

    got = np.asarray(PILImage.open(io.BytesIO(png.content)).convert("L")).astype(float)
    expected = truth[0, 0, 0].astype(float) / 65535 * 255
    assert np.abs(got - expected).max() <= 1.0


def test_private_screen_hides_its_plates_and_images(services, client, plate):
    db = services.catalogue
    from stratascope.catalogue import accounts as store
    from stratascope.catalogue.repository import set_visibility

    store.add_group(db, "lab")
    set_visibility(db, "screen", str(plate["screen"]), public=False, group_id=store.group_id(db, "lab"))
    store.add_user(db, "admin", admin=True)
    store.add_user(db, "member")
    store.add_member(db, "lab", "member")
    store.add_user(db, "outsider")
    tokens = {name: {"Authorization": f"Bearer {store.create_token(db, name)}"} for name in ("admin", "member", "outsider")}
    pid, sid = plate["id"], plate["screen"]
    image_id = plate["wells"]["A/1"].samples[0].image_id
    well_id = plate["wells"]["A/1"].id
    urls = [f"/api/v0/m/screens/{sid}/", f"/api/v0/m/plates/{pid}/", f"/api/v0/m/wells/{well_id}/",
            f"/webgateway/plate/{pid}/", f"/webgateway/imgData/{image_id}/",
            f"/webgateway/render_thumbnail/{image_id}/", f"/api/v0/m/images/{image_id}/",
            f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,0,0", f"/iiif/3/{image_id}/info.json",
            f"/zarr/{image_id}.zarr/.zattrs", f"/view/{image_id}"]
    for who, headers, status in ((None, {}, 404), ("outsider", tokens["outsider"], 404),
                                 ("member", tokens["member"], 200), ("admin", tokens["admin"], 200)):
        for url in urls:
            assert client.get(url, headers=headers).status_code == status, (who, url)
        visible = 200 == status
        assert len(client.get("/api/v0/m/screens/", headers=headers).json()["data"]) == int(visible), who
        assert len(client.get("/api/v0/m/plates/", headers=headers).json()["data"]) == int(visible), who
        assert len(client.get("/api/v0/m/wells/", headers=headers).json()["data"]) == 3 * int(visible), who
        images = client.get("/api/v0/m/images/", headers=headers).json()["meta"]["totalCount"]
        assert images == 6 * int(visible), who
