"""The console's server-side bar charts and durations: bars never leave the drawing, scale to the
largest total, and stack in order; a duration reads as its two largest units."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import Babel
from hypothesis import given
from hypothesis import strategies as st

from bridge.web.console.charts import LABEL_WIDTH, VALUE_WIDTH, WIDTH, bar_chart
from bridge.web.console.formatting import span

parts = st.lists(
    st.tuples(st.floats(0, 1e9, allow_nan=False), st.sampled_from(["", "bad", "ok"])), max_size=4
)
items = st.lists(st.tuples(st.text(max_size=30), parts, st.text(max_size=8)), max_size=30)


@given(items)
def test_bars_stay_inside_the_drawing_and_scale_to_the_largest(
    chosen: list[tuple[str, list[tuple[float, str]], str]],
) -> None:
    chart = bar_chart("t", chosen)
    assert len(chart.bars) == len(chosen)
    widest = 0.0
    for bar, (_, values, _) in zip(chart.bars, chosen, strict=True):
        x = float(LABEL_WIDTH)
        for segment, (value, kind) in zip(bar.segments, values, strict=True):
            assert segment.x == pytest.approx(x) and segment.width >= 0 and segment.kind == kind
            assert segment.value == value
            x += segment.width
        assert x <= WIDTH - VALUE_WIDTH + 1e-6
        widest = max(widest, x - LABEL_WIDTH)
        assert 0 <= bar.y < chart.height
    if any(sum(v for v, _ in values) > 0 for _, values, _ in chosen):
        assert widest == pytest.approx(WIDTH - LABEL_WIDTH - VALUE_WIDTH)


@pytest.fixture
def english() -> Flask:
    app = Flask(__name__)
    Babel(app)
    return app


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (3660, "1h 1m"), (86400, "1d"),
     (90000, "1d 1h"), (-90, "1m")],
)  # fmt: skip
def test_a_duration_reads_as_its_two_largest_units(english: Flask, seconds: float, text: str) -> None:
    with english.test_request_context():
        assert span(seconds) == text
