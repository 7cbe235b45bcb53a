"""The one family of HTML reports: Jinja2 templates (templates/*.html.j2) sharing one base page and its
macros, self-contained pages (figures embedded as data URIs) written atomically."""

from __future__ import annotations

import base64
import io
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


class Figure(Protocol):
    """What a report needs of a figure (a matplotlib Figure): to save itself as PNG."""

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
    """A figure as PNG bytes, cropped to what it draws (a long title or label is never cut off)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15)
    return buffer.getvalue()


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
