"""One distance: the WGS 84 geodesic (geopy), and the great circle kept by hand for speed held to geopy's."""

import numpy as np
import pytest
from geopy.distance import great_circle
from hypothesis import given
from hypothesis import strategies as st
from pidf_shapes import geodesic_inverse

from routing.geo import distance_m, great_circle_m, haversine_m

latitudes = st.floats(-80, 80)
longitudes = st.floats(-180, 180)
# within a city's reach of each other: the hot places measure road segments, fixes against fences, units
nearby = st.floats(-0.5, 0.5)


@given(latitudes, longitudes, nearby, nearby)
def test_the_hand_written_great_circle_is_geopys(lat: float, lon: float, dlat: float, dlon: float) -> None:
    lat2, lon2 = max(-89.0, min(89.0, lat + dlat)), lon + dlon
    theirs = great_circle((lat, lon), (lat2, lon2 if lon2 <= 180 else lon2 - 360)).meters
    assert great_circle_m(lat, lon, lat2, lon2) == pytest.approx(theirs, rel=1e-6, abs=1e-6)
    assert float(haversine_m(lat, lon, lat2, lon2)) == pytest.approx(theirs, rel=1e-6, abs=1e-6)


@given(latitudes, longitudes, nearby, nearby)
def test_the_great_circle_is_within_0_6_percent_of_the_geodesic(
    lat: float, lon: float, dlat: float, dlon: float
) -> None:
    lat2, lon2 = max(-89.0, min(89.0, lat + dlat)), (lon + dlon + 180) % 360 - 180
    # worst north-south at the equator: the ellipsoid's meridian there curves 0.56 % tighter than the mean sphere
    assert great_circle_m(lat, lon, lat2, lon2) == pytest.approx(distance_m(lat, lon, lat2, lon2), rel=6e-3, abs=1e-3)


def test_the_geodesic_agrees_with_an_independent_vincenty() -> None:
    for a, b in [((-5.14, 119.42), (-5.10, 119.45)), ((-1.2655, 116.8405), (-1.27, 116.85)), ((0, 0), (0, 1))]:
        assert distance_m(*a, *b) == pytest.approx(geodesic_inverse(*a, *b)[0], abs=1e-3)
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_319.49, abs=0.01)  # a degree of the equator on WGS 84


def test_haversine_is_element_wise() -> None:
    lat = np.array([-1.26, -1.27, -1.28])
    lon = np.array([116.84, 116.85, 116.86])
    each = [great_circle_m(a, b, -1.25, 116.83) for a, b in zip(lat, lon, strict=True)]
    assert haversine_m(lat, lon, -1.25, 116.83).tolist() == pytest.approx(each, rel=1e-12)
