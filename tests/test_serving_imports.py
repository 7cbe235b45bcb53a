"""The serving path imports neither dbt nor Great Expectations."""

from __future__ import annotations

import subprocess
import sys


def test_serving_does_not_import_dbt_or_great_expectations() -> None:
    code = (
        "import sys, ivcrush.cli.app, ivcrush.serving.predict, ivcrush.serving.strategy, ivcrush.serving.implied,"
        " ivcrush.serving.writeback;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'great_expectations'}))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
