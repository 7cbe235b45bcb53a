"""Run a static tool (lint-imports, mypy, grimp) over the `ivcrush` namespace as a plain folder tree.

The package's folders are mapped by setuptools' package-dir (`ivcrush` = dbt_project/, `ivcrush.cli` =
cli/, ...). An editable install resolves that mapping with an import hook, which static tools do not run:
they find `ivcrush` in dbt_project/ and none of the layers above it. This script lays the namespace out as
symbolic links in build/package-tree/ivcrush (from `[tool.setuptools.package-dir]`, rebuilt every run),
runs the command with that folder first on PYTHONPATH and MYPYPATH, and prints the checkout's paths in
its standard output instead of the links' (build/package-tree/ivcrush/serving/x.py -> serving/x.py).

    .venv/bin/python .ci/package_tree.py .venv/bin/lint-imports
    .venv/bin/python .ci/package_tree.py .venv/bin/mypy
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "package-tree"
NOT_SOURCE = {"__pycache__", "target", "logs"}  # dbt writes target/ and logs/ when run in dbt_project/


def link_tree(root: Path = ROOT, tree: Path = TREE) -> dict[Path, Path]:
    """Lay out every package of pyproject.toml's package-dir under `tree` as symbolic links; returns link -> target."""
    with (root / "pyproject.toml").open("rb") as handle:
        package_dir: dict[str, str] = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(tree, ignore_errors=True)
    links: dict[Path, Path] = {}
    for package, folder in sorted(package_dir.items()):  # parents before their subpackages
        target = tree.joinpath(*package.split("."))
        if "." in package:
            target.unlink(missing_ok=True)
            links[target] = root / folder
            continue
        target.mkdir(parents=True)
        for entry in (root / folder).iterdir():
            if entry.name not in NOT_SOURCE:
                links[target / entry.name] = entry
    for link, source in links.items():
        link.symlink_to(source, target_is_directory=source.is_dir())
    return links


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    links = link_tree()
    env = dict(os.environ)
    for variable in ("PYTHONPATH", "MYPYPATH"):
        env[variable] = os.pathsep.join(filter(None, [str(TREE), env.get(variable)]))
    # Longest first, absolute before relative: a link's path in the output becomes its target's.
    replacements = sorted(
        [(str(link), str(source)) for link, source in links.items()]
        + [(str(link.relative_to(ROOT)), str(source.relative_to(ROOT))) for link, source in links.items()],
        key=lambda pair: -len(pair[0]),
    )
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        for link, source in replacements:
            line = line.replace(link, source)
        sys.stdout.write(line)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
