#!/usr/bin/env python3
"""Run a static tool (lint-imports, mypy, grimp) over the `ivcrush` namespace as a plain folder tree.

The package's folders are mapped by setuptools' package-dir (`ivcrush` = dbt_project/, `ivcrush.cli` =
cli/, ...). An editable install resolves that mapping with an import hook, which static tools do not run:
they find `ivcrush` in dbt_project/ and none of the layers above it. This script lays the namespace out as
symbolic links in build/package-tree/ivcrush (from `[tool.setuptools.package-dir]`, rebuilt every run)
and runs the command with that folder first on PYTHONPATH and MYPYPATH.

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


def link_tree(root: Path = ROOT, tree: Path = TREE) -> Path:
    """Lay out every package of pyproject.toml's package-dir under `tree` as symbolic links; returns `tree`."""
    with (root / "pyproject.toml").open("rb") as handle:
        package_dir: dict[str, str] = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(tree, ignore_errors=True)
    for package, folder in sorted(package_dir.items()):  # parents before their subpackages
        target = tree.joinpath(*package.split("."))
        if "." not in package:
            target.mkdir(parents=True)
            for entry in (root / folder).iterdir():
                if entry.name not in {"__pycache__", "target", "logs"} and not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry)
        else:
            target.unlink(missing_ok=True)
            target.symlink_to(root / folder, target_is_directory=True)
    return tree


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    tree = str(link_tree())
    env = dict(os.environ)
    for variable in ("PYTHONPATH", "MYPYPATH"):
        env[variable] = os.pathsep.join(filter(None, [tree, env.get(variable)]))
    return subprocess.call(command, env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
