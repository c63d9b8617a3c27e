"""One percentile rule, nearest-rank (README "Reports"), wherever a percentile is shown."""

from hypothesis import given
from hypothesis import strategies as st

from reports.stats import nearest_rank
from simulator.report import nearest_rank as simulator_nearest_rank
from simulator.report import percentiles


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300), st.integers(1, 100))
def test_the_simulators_copy_is_the_reports_rule(values: list[float], percent: int) -> None:
    ordered = sorted(values)
    assert simulator_nearest_rank(ordered, percent) == nearest_rank(ordered, percent)


def test_the_simulators_median_of_an_even_count_is_the_lower_middle_value() -> None:
    assert percentiles([0.4, 0.1, 0.3, 0.2]) == (200.0, 400.0)  # ms; statistics.median would say 250
