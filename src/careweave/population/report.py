"""A standalone population health report (one HTML file) for leaders and analysts of a place.

It is an output that leaves direct care, so it shows only what may be published: the 65+
population by segment and every equity table with small numbers suppressed ("<10", "*"), rates
with their 95% Wilson intervals only where both counts are shown, and how many people with a
national data opt-out were left out (itself a count of people, so "<10" when under 10, as on
the population pages). Charts are SVG with a title and a description, and every
chart has the table it was drawn from beside it, so the report reads the same to a screen
reader and on paper. No script, no external files: it can be e-mailed or archived as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
from jinja2 import Environment, select_autoescape

from careweave.population.charts import BarGroup, bar_chart, bars, count_words
from careweave.population.equity import (
    DIMENSIONS,
    EQUITY_WORDS,
    PublishedCell,
    equity_breakdown,
    publishable,
)
from careweave.population.segmentation import segment_counts
from careweave.population.suppression import shown_count
from careweave.uk_time import today


@dataclass(frozen=True)
class EquityTable:
    dimension: str
    measure: str
    rows: list[PublishedCell]


def population_report(
    con: duckdb.DuckDBPyConnection, *, place: str, made: date | None = None
) -> str:
    """The report of the projection `con` for the place called `place`, as one HTML page,
    dated `made` (today in the UK when not given: the report is read in England, whatever
    zone the machine that makes it runs in)."""
    segments = segment_counts(con)
    total, counts = segments.publishable()
    segment_bars = bars(counts)
    breakdown = equity_breakdown(con)
    cells = publishable(breakdown)
    tables: list[EquityTable] = []
    for dimension in DIMENSIONS:
        for measure in EQUITY_WORDS:
            rows = [c for c in cells if c.dimension == dimension and c.measure == measure]
            if rows:
                tables.append(EquityTable(dimension, measure, rows))
    return _TEMPLATE.render(
        place=place,
        as_of=segments.as_of,
        made=made or today(),
        total=total,
        segment_bars=segment_bars,
        segment_chart=bar_chart(
            "segments",
            "People aged 65 and over by segment",
            "A bar for each segment; the table below gives the same counts.",
            [BarGroup(None, segment_bars)],
        ),
        # Published like every other count: the pages say "<10" too (careweave.web.population).
        objectors=shown_count(segments.objectors_excluded),
        tables=tables,
        dimension_words={name: words for name, (words, _, _) in DIMENSIONS.items()},
        measure_words=dict(breakdown.words),
    )


def _figure(value: float | None, mean: bool = False) -> str:
    """A rate as a percentage, or a mean score to two decimals."""
    if value is None:
        return ""
    return f"{value:.2f}" if mean else f"{100 * value:.1f}%"


def _in_a_sentence(words: str) -> str:
    """ "Ethnic group" becomes "ethnic group" mid-sentence; "IMD decile" stays as it is."""
    first = words.split(" ", 1)[0]
    return words if first.isupper() else words[:1].lower() + words[1:]


_ENVIRONMENT = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
_ENVIRONMENT.filters["figure"] = _figure
_ENVIRONMENT.filters["count"] = count_words
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
95% confidence intervals (Wilson score) are given only where both counts are shown; for the
Cambridge Multimorbidity Score the rate is the group's mean score, its interval the mean plus
or minus 1.96 standard errors.
{{ objectors | count }} people with a national data opt-out are left out of every figure.</p>

<h2 id="segments">The 65+ population by segment</h2>
<p>{{ total | count }} people aged 65 and over.</p>
{{ segment_chart }}
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
<td class="number">{{ row.rate | figure(row.mean) }}</td>
<td class="number">
{% if row.low is not none -%}
{{ row.low | figure(row.mean) }} to {{ row.high | figure(row.mean) }}
{%- endif %}
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
