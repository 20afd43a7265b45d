"""The admin charts, drawn on the server by pygal as plain SVG: no script, readable without JavaScript."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from club.ambassadors.service import Row, metric_of

METRICS = ("activities", "hours", "people")

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1d2a2b",
    foreground_strong="#1d2a2b",
    foreground_subtle="#52605f",
    opacity=".9",
    opacity_hover="1",
    colors=("#16595a", "#b8862b", "#c2410c", "#1d2a2b"),
    font_family='system-ui, "Segoe UI", Roboto, "Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic", sans-serif',
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=12,
    title_font_size=16,
    legend_font_size=13,
)


def metric_value(row: Row, metric: str) -> float:
    """The bar's value: hours rather than the quarter hours the rows count."""
    value = metric_of(row, metric)
    return value / 4 if metric == "hours" else value


# Values printed on the bars: dark ink with a white outline, readable on a teal bar and on the white beside it.
VALUE_CSS = (
    "inline:.text-overlay .value, text.value {"
    " fill: #1d2a2b !important; paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round;"
    " font-weight: 700; }"
)


def render(
    rows: Sequence[Row],
    *,
    title: str,
    series: str,
    metric: str,
    horizontal: bool,
    label: Callable[[Row], str],
    formatter: Callable[[float], str],
    empty: str,
) -> str:
    """An SVG document for one dimension and one metric."""
    chart_class = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(260, 60 + 32 * len(rows)) if horizontal else 380
    chart = chart_class(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=820,
        height=height,
        title=title,
        show_legend=False,
        print_values=True,
        print_zeroes=False,
        truncate_label=-1,  # long category and institution names are shown in full
        css=["file://style.css", "file://graph.css", VALUE_CSS],
        value_formatter=formatter,
        no_data_text=empty,
        margin=16,
    )
    ordered = list(reversed(rows)) if horizontal else list(rows)  # pygal draws the first bar at the bottom
    chart.x_labels = [label(row) for row in ordered]
    chart.add(series, [metric_value(row, metric) for row in ordered])
    return _without_script(chart.render_tree())


def _without_script(tree: ElementTree.Element) -> str:
    # pygal always embeds a small config <script>; it would never run from an <img>, but a chart has no need of it.
    for parent in list(tree.iter()):
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return (
        ElementTree.tostring(tree, encoding="unicode")
        if isinstance(tree, ElementTree.Element)
        else _lxml_tostring(tree)
    )


def _lxml_tostring(tree: object) -> str:
    from lxml import etree

    return str(etree.tostring(tree, encoding="unicode"))
