"""The report family: one base page, escaping, embedded figures, atomic writes."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from ivcrush.reports import PAD_INCHES, embed_figure, figure_png, render, write_page


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


def _legend_below() -> plt.Figure:
    """Axes with a legend hung under them, outside the figure (as the evaluation's bar charts have it)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([0, 1], [0.7, 0.8], label="a long label that the legend shows under the axes")
    ax.set(title="a title", xlabel="fold")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    return fig


def _tight_png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", pad_inches=PAD_INCHES)
    return buffer.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype="float64")


def test_a_figure_is_drawn_once_and_cropped_like_a_tight_bounding_box() -> None:
    """One draw where bbox_inches="tight" takes two; the same picture: a legend outside the figure is kept,
    the margins are the tight box's within a few pixels, and the drawing matches it pixel for pixel once
    aligned (anti-aliasing aside)."""
    fig = _legend_below()
    draws = []
    draw = fig.draw
    fig.draw = lambda renderer: (draws.append(1), draw(renderer))[1]  # type: ignore[method-assign]
    png = figure_png(fig)
    assert len(draws) == 1
    tight = _tight_png(fig)
    plt.close(fig)
    ours, theirs = _pixels(png), _pixels(tight)
    assert abs(ours.shape[0] - theirs.shape[0]) <= 4 and abs(ours.shape[1] - theirs.shape[1]) <= 4
    assert (ours < 128).any(axis=1).nonzero()[0][-1] > ours.shape[0] - 0.3 * 90  # the legend, at the bottom
    drawn = [np.argwhere(image < 200) for image in (ours, theirs)]  # the dark pixels, from their top-left
    ours, theirs = (image[d[:, 0].min() :, d[:, 1].min() :] for image, d in zip((ours, theirs), drawn, strict=True))
    height, width = min(ours.shape[0], theirs.shape[0]) - 2, min(ours.shape[1], theirs.shape[1]) - 2
    nearest = np.min(  # each of our pixels against theirs one pixel around (elements snap to pixels apart)
        [
            np.abs(ours[1 : height + 1, 1 : width + 1] - theirs[i : height + i, j : width + j])
            for i in range(3)
            for j in range(3)
        ],
        axis=0,
    )
    assert np.mean(nearest > 64) < 0.002


def test_a_figure_drawn_beyond_the_margin_is_measured_by_matplotlib() -> None:
    """Text far outside the figure (beyond the canvas figure_png draws on) is not cut off: the tight box."""
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    fig.text(2.5, 0.5, "far to the right")
    png = figure_png(fig)
    tight = _tight_png(fig)
    plt.close(fig)
    assert _pixels(png).shape == _pixels(tight).shape and _pixels(png).shape[1] > 4 * 90 * 2
