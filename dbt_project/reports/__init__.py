"""The one family of HTML reports: Jinja2 templates (templates/*.html.j2) sharing one base page and its
macros, self-contained pages (figures embedded as data URIs) written atomically."""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2
import numpy as np

TEMPLATES = Path(__file__).parent / "templates"
MARGIN_INCHES = 1.0  # the canvas around a figure, for what it draws outside itself (a legend under its axes)
PAD_INCHES = 0.15  # around what a figure draws


class Figure(Protocol):
    """What a report needs of a figure (a matplotlib Figure): its size, to save itself."""

    def get_size_inches(self) -> Any: ...

    def get_children(self) -> list[Any]: ...

    def savefig(self, fname: Any, **kwargs: Any) -> None: ...


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """The page of `template` (a file name in templates/) rendered with `context`."""
    return _environment().get_template(template).render(**context)


def png_data_uri(png: bytes) -> str:
    """A PNG as a data URI, for an <img> that needs no file beside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """A figure as PNG bytes, cropped to what it draws plus `PAD_INCHES` (a long title or label is never cut
    off). Drawn once (matplotlib's bbox_inches="tight" draws twice: once to measure) on a canvas
    `MARGIN_INCHES` larger than the figure on every side, then cropped to the pixels it drew. Where those
    reach the canvas's edge, or a text that may sit anywhere (a title, a legend's, a figure text; not the
    axes' tick labels) lies beyond it, the figure is saved with "tight" instead."""
    from matplotlib.transforms import Bbox

    width, height = fig.get_size_inches()
    canvas = Bbox.from_extents(-MARGIN_INCHES, -MARGIN_INCHES, width + MARGIN_INCHES, height + MARGIN_INCHES)
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi, bbox_inches=canvas)
    rgba = np.frombuffer(raw.getbuffer(), dtype=np.uint8).reshape(-1, int(canvas.width * dpi), 4)
    drawn = rgba.view(np.uint32)[:, :, 0] != rgba.view(np.uint32)[0, 0, 0]  # not the background (a corner)
    rows, columns = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    inside = len(rows) and rows[0] > 0 and rows[-1] < drawn.shape[0] - 1 and columns[0] > 0
    buffer = io.BytesIO()
    if inside and columns[-1] < drawn.shape[1] - 1 and _texts_within(fig, canvas, dpi):
        pad = round(PAD_INCHES * dpi)
        top, bottom = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, drawn.shape[0])
        left, right = max(columns[0] - pad, 0), min(columns[-1] + 1 + pad, drawn.shape[1])
        _png(rgba[top:bottom, left:right], buffer)
    else:  # drawn beyond the canvas: matplotlib measures it
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=PAD_INCHES)
    return buffer.getvalue()


def _texts_within(fig: Figure, canvas: Any, dpi: int) -> bool:
    """Whether every text of `fig` outside its axes' Axis objects (titles, legends, figure texts, annotations:
    what may be placed anywhere) lies within `canvas` (inches, the figure's origin), as drawn at `dpi`."""
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    def loose(artist: Any) -> Iterator[Any]:
        for child in artist.get_children():
            if not isinstance(child, Axis):  # tick labels and axis labels sit by their axes
                yield from ([child] if isinstance(child, Text) else [])
                yield from loose(child)

    for text in loose(fig):
        if text.get_visible() and text.get_text():
            box = text.get_window_extent(dpi=dpi)
            if (
                box.x0 < canvas.x0 * dpi
                or box.y0 < canvas.y0 * dpi
                or box.x1 > canvas.x1 * dpi
                or box.y1 > canvas.y1 * dpi
            ):
                return False
    return True


def _png(rgba: np.ndarray, out: io.BytesIO) -> None:
    from PIL import Image

    Image.fromarray(rgba).save(out, format="png")


def embed_figure(fig: Figure, dpi: int = 90) -> str:
    """A figure as a PNG data URI (the caller closes the figure)."""
    return png_data_uri(figure_png(fig, dpi))


def write_page(path: Path, page: str) -> Path:
    """Write a page atomically (a reader never sees half of it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
