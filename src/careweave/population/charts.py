"""Bar charts of published population figures, as accessible SVG: shared by the standalone
report (careweave.population.report) and the population pages (careweave.web.population).

A chart is drawn only from what may be published (counts, or the "<10" / "*" that stand for
them), so it can never show more than the table beside it. Every chart is `role="img"` with a
`<title>` and `<desc>` it is labelled by, says in its description that the table gives the
same figures, and writes each bar's figure beside it, so the bar's length is never the only
way to read a value. A suppressed count gets no bar, only its "<10" or "*".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from careweave.population.suppression import Shown

SEGMENT_WORDS: Final = {
    "fit": "Fit",
    "long-term-conditions": "Long-term conditions, not frail",
    "mild-frailty": "Mild frailty",
    "moderate-frailty": "Moderate frailty",
    "severe-frailty": "Severe frailty",
    "care-home": "Living in a care home",
    "end-of-life": "End of life",
}
CHART_WIDTH: Final = 480
"""The longest bar, in the SVG's own units (the chart scales to the width it is given)."""
BAR_HEIGHT: Final = 22
LABEL_WIDTH: Final = 250
"""Room for the labels left of the bars ("Long-term conditions, not frail" at 14px)."""
ROW: Final = BAR_HEIGHT + 8


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, what is shown for it, and its length in pixels (0 when
    the count is suppressed, which the label then says)."""

    label: str
    shown: Shown
    length: int


@dataclass(frozen=True)
class BarGroup:
    """Bars drawn together under a heading (a segment's counts on several days); a chart of
    one group with no heading is a plain bar chart."""

    heading: str | None
    bars: Sequence[Bar]


def bars(
    counts: Mapping[str, Shown],
    *,
    words: Mapping[str, str] = SEGMENT_WORDS,
    largest: int | None = None,
) -> list[Bar]:
    """Bars scaled to `largest` (default the largest count shown); a suppressed count gets no
    bar. Keys are labelled by `words` where it has them."""
    numbers = [v for v in counts.values() if isinstance(v, int)]
    scale = largest if largest is not None else max(numbers, default=0)
    scale = scale or 1
    return [
        Bar(
            words.get(key, key),
            value,
            round(CHART_WIDTH * value / scale) if isinstance(value, int) else 0,
        )
        for key, value in counts.items()
    ]


def count_words(value: Shown) -> str:
    """A count as published: 1,234, or the "<10" / "*" that stands for it."""
    return value if isinstance(value, str) else f"{value:,}"


@dataclass(frozen=True)
class _Row:
    y: int
    text: str
    bar: Bar | None
    indent: int


def _rows(groups: Sequence[BarGroup]) -> list[_Row]:
    rows: list[_Row] = []
    for group in groups:
        indent = 0
        if group.heading is not None:
            rows.append(_Row(len(rows) * ROW + 4, group.heading, None, 0))
            indent = 16
        rows.extend(_Row(len(rows) * ROW + 4, bar.label, bar, indent) for bar in group.bars)
    return rows


def bar_chart(chart_id: str, title: str, description: str, groups: Sequence[BarGroup]) -> Markup:
    """The SVG of a horizontal bar chart, labelled by its `title` and `description` (ids
    `<chart_id>-title` and `<chart_id>-desc`), ready to put in a page."""
    rows = _rows(groups)
    width = LABEL_WIDTH + CHART_WIDTH + 80
    height = len(rows) * ROW + 8
    # Safe: made by an autoescaping template, so every label and figure in it is escaped.
    return Markup(  # noqa: S704
        _CHART.render(
            chart_id=chart_id,
            title=title,
            description=description,
            rows=rows,
            width=width,
            height=height,
            label_width=LABEL_WIDTH,
            bar_height=BAR_HEIGHT,
        )
    )


_ENVIRONMENT = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
_ENVIRONMENT.filters["count"] = count_words
_CHART = _ENVIRONMENT.from_string(
    """<svg role="img" class="careweave-chart" aria-labelledby="{{ chart_id }}-title \
{{ chart_id }}-desc" width="100%" viewBox="0 0 {{ width }} {{ height }}" \
xmlns="http://www.w3.org/2000/svg">
<title id="{{ chart_id }}-title">{{ title }}</title>
<desc id="{{ chart_id }}-desc">{{ description }}</desc>
{% for row in rows %}
{% if row.bar is none %}
<text x="0" y="{{ row.y + bar_height - 6 }}" font-size="14" font-weight="bold" fill="#212b32">\
{{ row.text }}</text>
{% else %}
<text x="{{ row.indent }}" y="{{ row.y + bar_height - 6 }}" font-size="14" fill="#212b32">\
{{ row.text }}</text>
<rect x="{{ label_width }}" y="{{ row.y }}" width="{{ row.bar.length }}" \
height="{{ bar_height }}" fill="#005eb8"></rect>
<text x="{{ label_width + 6 + row.bar.length }}" y="{{ row.y + bar_height - 6 }}" \
font-size="14" fill="#212b32">{{ row.bar.shown | count }}</text>
{% endif %}
{% endfor %}
</svg>
"""
)
