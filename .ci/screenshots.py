"""Render a workspace's report pages in headless Chromium: a PNG of each to look at, and a layout check.

The pages of a workspace: the newest run index (reports/<run-id>/index.html), the newest evaluation page
(evaluations/<time>/report.html) and the current build's quality summary (current/quality/summary.html); more
with --page. For each it writes OUT/<name>.png (chromium --headless --screenshot, 1400 px wide) and prints the
layout as the browser measured it: the page's width against the window's, the tables that need a horizontal
scroll bar and the images that did not decode. Exit 1 where a page overflows or has a broken image.

    .venv/bin/ivcrush run --db /path/to/ivcrush.db --workdir /tmp/work
    .venv/bin/python .ci/screenshots.py /tmp/work --out /tmp/shots   # then look at /tmp/shots/*.png

Needs the `chromium` command (Debian: `apt-get install chromium`; not installed by .ci/run: ~300 MB).
Nothing is written into the workspace: the layout probe runs on a copy of each page in OUT.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--disable-dev-shm-usage"]
TIMEOUT_S = 120
# Measures the laid-out page; written into the DOM that --dump-dom prints.
PROBE = """<script>addEventListener("load", () => {
  const tables = [...document.querySelectorAll("table")];
  const result = {
    page_width: document.documentElement.scrollWidth, window_width: innerWidth,
    page_height: document.documentElement.scrollHeight,
    overflowing_tables: tables.filter(t => t.scrollWidth > t.clientWidth + 1)
      .map(t => [...t.querySelectorAll("th")].map(h => h.textContent.trim()).join(" | ").slice(0, 120)),
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    images: document.images.length, tables: tables.length,
  };
  const out = document.createElement("pre"); out.id = "ivcrush-layout"; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});</script>"""


def chromium() -> str | None:
    """The Chromium command on PATH, if any."""
    return next((found for name in CHROMIUM if (found := shutil.which(name))), None)


def workspace_pages(workdir: Path) -> dict[str, Path]:
    """The newest run index, the newest evaluation page and the current build's quality summary (those there)."""
    newest = {
        "run_index": sorted(workdir.glob("reports/*/index.html")),
        "evaluation": sorted(workdir.glob("evaluations/*/report.html")),
        "quality_summary": [workdir / "current" / "quality" / "summary.html"],
    }
    return {name: found[-1] for name, found in newest.items() if found and found[-1].is_file()}


def screenshot(browser: str, page: Path, png: Path, width: int, height: int) -> None:
    command = [browser, *FLAGS, f"--screenshot={png}", f"--window-size={width},{height}", page.resolve().as_uri()]
    subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=True)


def layout(browser: str, page: Path, probe_copy: Path, width: int, height: int) -> dict:
    """The page's layout as Chromium lays it out at `width` (the probe runs on a copy with a script added)."""
    probe_copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [browser, *FLAGS, f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom"]
    dom = subprocess.run(
        [*command, probe_copy.resolve().as_uri()], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
    ).stdout
    probe_copy.unlink()
    found = re.search(r'<pre id="ivcrush-layout">(.*?)</pre>', dom, re.S)
    if found is None:
        raise RuntimeError(f"{page}: the layout probe did not run")
    return json.loads(html.unescape(found.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path, nargs="?", help="an ivcrush workspace (after `ivcrush run`)")
    parser.add_argument("--page", type=Path, action="append", default=[], help="another page to render")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="where the PNGs go")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2600)
    parser.add_argument("--json", action="store_true", help="print the layouts as JSON")
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print("no chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    pages = workspace_pages(args.workdir) if args.workdir else {}
    pages |= {page.stem if page.stem not in pages else f"{page.parent.name}_{page.stem}": page for page in args.page}
    if not pages:
        print("no report page found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, page in pages.items():
        png = args.out / f"{name}.png"
        screenshot(browser, page, png, args.width, args.height)
        results[name] = {
            "page": str(page),
            "png": str(png),
            **layout(browser, page, args.out / f".{name}.probe.html", args.width, args.height),
        }
    bad = [
        n
        for n, r in results.items()
        if r["page_width"] > r["window_width"] or r["overflowing_tables"] or r["broken_images"]
    ]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(
                f"{name}: {r['png']} ({r['page_width']}x{r['page_height']} px in a {r['window_width']} px window; "
                f"{r['tables']} tables, {len(r['overflowing_tables'])} overflowing; {r['images']} images, "
                f"{len(r['broken_images'])} broken)"
            )
            for header in r["overflowing_tables"]:
                print(f"  overflowing table: {header}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
