"""A standalone population health report (one HTML file) for leaders and analysts of a place.

It is an output that leaves direct care, so it shows only what may be published: the 65+
population by segment and every equity table with small numbers suppressed ("<10", "*"), rates
with their 95% Wilson intervals only where both counts are shown, and how many people with a
national data opt-out were left out. Charts are SVG with a title and a description, and every
chart has the table it was drawn from beside it, so the report reads the same to a screen
reader and on paper. No script, no external files: it can be e-mailed or archived as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import duckdb
from jinja2 import Environment, select_autoescape

from careweave.population.equity import (
    DIMENSIONS,
    EQUITY_MEASURES,
    PublishedCell,
    equity_breakdown,
    publishable,
)
from careweave.population.segmentation import segment_counts
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
BAR_HEIGHT: Final = 22


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, what is shown for it, and its length in pixels (0 when
    the count is suppressed, which the label then says)."""

    label: str
    shown: Shown
    length: int


@dataclass(frozen=True)
class EquityTable:
    dimension: str
    measure: str
    rows: list[PublishedCell]


def bars(counts: dict[str, Shown]) -> list[Bar]:
    """Bars scaled to the largest count shown; a suppressed count gets no bar."""
    numbers = [v for v in counts.values() if isinstance(v, int)]
    largest = max(numbers, default=0) or 1
    return [
        Bar(
            SEGMENT_WORDS.get(key, key),
            value,
            round(CHART_WIDTH * value / largest) if isinstance(value, int) else 0,
        )
        for key, value in counts.items()
    ]


def population_report(con: duckdb.DuckDBPyConnection, *, place: str) -> str:
    """The report of the projection `con` for the place called `place`, as one HTML page."""
    segments = segment_counts(con)
    total, counts = segments.publishable()
    breakdown = equity_breakdown(con)
    cells = publishable(breakdown)
    tables: list[EquityTable] = []
    for dimension in DIMENSIONS:
        for measure in EQUITY_MEASURES:
            rows = [c for c in cells if c.dimension == dimension and c.measure == measure]
            if rows:
                tables.append(EquityTable(dimension, measure, rows))
    return _TEMPLATE.render(
        place=place,
        as_of=segments.as_of,
        made=date.today(),
        total=total,
        segment_bars=bars(counts),
        chart_width=CHART_WIDTH,
        bar_height=BAR_HEIGHT,
        objectors=segments.objectors_excluded,
        tables=tables,
        dimension_words={name: words for name, (words, _, _) in DIMENSIONS.items()},
        measure_words={name: words for name, (words, _) in EQUITY_MEASURES.items()},
    )


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _in_a_sentence(words: str) -> str:
    """ "Ethnic group" becomes "ethnic group" mid-sentence; "IMD decile" stays as it is."""
    first = words.split(" ", 1)[0]
    return words if first.isupper() else words[:1].lower() + words[1:]


def _count(value: Shown) -> str:
    """A count as published: 1,234, or the "<10" / "*" that stands for it."""
    return value if isinstance(value, str) else f"{value:,}"


_ENVIRONMENT = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
_ENVIRONMENT.filters["percent"] = _percent
_ENVIRONMENT.filters["count"] = _count
_ENVIRONMENT.filters["in_a_sentence"] = _in_a_sentence
_TEMPLATE = _ENVIRONMENT.from_string(
    """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Population health report: {{ place }}, {{ as_of.strftime('%-d %B %Y') }}</title>
<style>
body { font-family: Arial, sans-serif; color: #212b32; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; }
h1, h2, h3 { line-height: 1.25; }
table { border-collapse: collapse; margin-bottom: 2rem; width: 100%; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.5rem; }
th, td { border-bottom: 1px solid #d8dde0; padding: 0.4rem 0.6rem; text-align: left; }
td.number, th.number { text-align: right; }
.note { background: #fff9c4; border-left: 6px solid #ffeb3b; padding: 0.8rem 1rem; }
svg text { font-size: 14px; fill: #212b32; }
</style>
</head>
<body>
<h1>Population health report: {{ place }}</h1>
<p>People aged 65 and over on {{ as_of.strftime('%-d %B %Y') }}, from careweave's population
projection. Made on {{ made.strftime('%-d %B %Y') }}.</p>
<p class="note">This report leaves direct care. Counts under 10 are shown as &ldquo;&lt;10&rdquo;,
and a count that would let a hidden one be worked out is shown as &ldquo;*&rdquo;. Rates and
95% confidence intervals (Wilson score) are given only where both counts are shown.
{{ '{:,}'.format(objectors) }} {{ 'person' if objectors == 1 else 'people' }} with a national
data opt-out {{ 'is' if objectors == 1 else 'are' }} left out of every figure.</p>

<h2 id="segments">The 65+ population by segment</h2>
<p>{{ total | count }} people aged 65 and over.</p>
<svg role="img" aria-labelledby="segments-title segments-desc" width="{{ chart_width + 260 }}"
     height="{{ segment_bars | length * (bar_height + 8) + 8 }}"
     viewBox="0 0 {{ chart_width + 260 }} {{ segment_bars | length * (bar_height + 8) + 8 }}">
<title id="segments-title">People aged 65 and over by segment</title>
<desc id="segments-desc">A bar for each segment; the table below gives the same counts.</desc>
{% for bar in segment_bars %}
{% set y = loop.index0 * (bar_height + 8) + 4 %}
<text x="0" y="{{ y + bar_height - 6 }}">{{ bar.label }}</text>
<rect x="200" y="{{ y }}" width="{{ bar.length }}" height="{{ bar_height }}" fill="#005eb8"></rect>
<text x="{{ 206 + bar.length }}" y="{{ y + bar_height - 6 }}">{{ bar.shown | count }}</text>
{% endfor %}
</svg>
<table>
<caption>People aged 65 and over by segment</caption>
<thead><tr><th scope="col">Segment</th><th scope="col" class="number">People</th></tr></thead>
<tbody>
{% for bar in segment_bars %}
<tr><th scope="row">{{ bar.label }}</th><td class="number">{{ bar.shown | count }}</td></tr>
{% endfor %}
</tbody>
</table>

<h2 id="equity">Equity: each measure by deprivation, ethnicity, sex and age</h2>
{% for table in tables %}
<table>
<caption>
{{ measure_words[table.measure] }}, by {{ dimension_words[table.dimension] | in_a_sentence }}
</caption>
<thead><tr>
<th scope="col">{{ dimension_words[table.dimension] }}</th>
<th scope="col" class="number">People</th>
<th scope="col" class="number">With the measure</th>
<th scope="col" class="number">Rate</th>
<th scope="col" class="number">95% confidence interval</th>
</tr></thead>
<tbody>
{% for row in table.rows %}
<tr>
<th scope="row">{{ row.group }}</th>
<td class="number">{{ row.people | count }}</td>
<td class="number">{{ row.with_measure | count }}</td>
<td class="number">{{ row.rate | percent }}</td>
<td class="number">
{% if row.low is not none %}{{ row.low | percent }} to {{ row.high | percent }}{% endif %}
</td>
</tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
</body>
</html>
"""
)
