"""The report family: one base page, escaping, embedded figures, atomic writes."""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from ivcrush.reports import embed_figure, render, write_page


def test_index_page_renders_sections_escaped_and_self_contained() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    uri = embed_figure(fig)
    plt.close(fig)
    page = render(
        "index.html.j2",
        title="run <1>",
        subtitle="snapshot",
        sections=[
            {
                "title": "Evaluation",
                "bullets": ["pinball: ahead & significant"],
                "table": {"header": ["fold", "coverage"], "rows": [[0, 0.81]]},
                "figures": [("coverage", uri)],
                "links": [("Data Docs", "quality/data_docs/raw/index.html")],
            }
        ],
    )
    assert "run &lt;1&gt;" in page and "ahead &amp; significant" in page
    assert "<td>0.81</td>" in page and 'href="quality/data_docs/raw/index.html"' in page
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="data:image/png;base64,' in page and '<img src="http' not in page


def test_a_missing_context_value_is_an_error_not_a_blank() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("index.html.j2", title="x")


def test_write_page_replaces_atomically(tmp_path: Path) -> None:
    path = write_page(tmp_path / "r" / "index.html", "<p>one</p>")
    write_page(path, "<p>two</p>")
    assert path.read_text() == "<p>two</p>"
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]
