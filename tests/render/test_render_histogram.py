"""Histograms like omero-web's histogram_json, checked against numpy.histogram / by hand."""

import numpy as np
import pytest

from stratascope.render.histogram import histogram
from stratascope.render.params import RenderParamError


def test_plane_range_by_default():
    plane = np.random.default_rng(3).integers(0, 4096, (64, 64)).astype(np.uint16)
    expected, _ = np.histogram(plane, bins=256, range=(plane.min(), plane.max()))
    counts = histogram(plane)
    assert counts == expected.tolist() and sum(counts) == plane.size


def test_given_range_excludes_outside_values_and_includes_the_top_edge():
    plane = np.array([0, 1, 2, 3, 4, 10], np.uint8)
    assert histogram(plane, bins=4, range=(0, 4)) == [1, 1, 1, 2]


def test_float_data_ignores_nan_and_inf():
    plane = np.array([0.0, 0.5, 1.0, np.nan, np.inf], np.float32)
    assert histogram(plane, bins=2) == [1, 2]


def test_constant_and_empty_planes():
    assert histogram(np.full((3, 3), 7, np.uint8), bins=4) == [9, 0, 0, 0]
    assert histogram(np.array([np.nan], np.float32), bins=3) == [0, 0, 0]


@pytest.mark.parametrize(("bins", "rng"), [(0, None), (70000, None), (2.5, None), (True, None), (4, (5, 1)),
                                          (4, (0, float("inf")))])
def test_bad_arguments(bins, rng):
    with pytest.raises(RenderParamError):
        histogram(np.zeros((2, 2), np.uint8), bins=bins, range=rng)
