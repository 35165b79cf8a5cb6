"""Bar charts drawn on the server as SVG: the geometry is computed here, the template draws it
(autoescaped like every other text, so a client's name cannot become markup)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 420
BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 120
VALUE_WIDTH = 40


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float
    kind: str  # a CSS class: "", "bad", "ok"
    value: float


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: float
    segments: tuple[Segment, ...]
    total: float
    text: str  # the value written after the bar


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: int
    height: int
    label_width: int
    bars: tuple[Bar, ...]


def bar_chart(
    title: str, items: Sequence[tuple[str, Sequence[tuple[float, str]], str]], width: int = WIDTH
) -> Chart:
    """Horizontal stacked bars, one per (label, [(value, kind), ...], text), scaled to the
    largest total; a total of nothing still gets a row (and no bar)."""
    room = width - LABEL_WIDTH - VALUE_WIDTH
    largest = max((sum(v for v, _ in parts) for _, parts, _ in items), default=0.0) or 1.0
    bars = []
    for index, (label, parts, text) in enumerate(items):
        x = float(LABEL_WIDTH)
        segments = []
        for value, kind in parts:
            w = room * max(value, 0.0) / largest
            segments.append(Segment(x, w, kind, value))
            x += w
        total = sum(v for v, _ in parts)
        bars.append(Bar(label, index * (BAR_HEIGHT + GAP), tuple(segments), total, text))
    height = max(len(bars), 1) * (BAR_HEIGHT + GAP)
    return Chart(title, width, height, LABEL_WIDTH, tuple(bars))
