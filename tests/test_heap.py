"""A long-lived predictor keeps the memory its requests free (`serving/heap.py`): no page faults for memory
freed and allocated again; the CLI's one-request predictor leaves the C heap as it is."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ivcrush.serving import predictor as predictor_module

FAULTS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from ivcrush.serving.heap import keep_freed_heap

    def faults():  # minor page faults of arrays of 1-3 MiB allocated and freed 20 times, 12 MiB at once
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            arrays = [np.ones(131072 * (1 + i % 3)) for i in range(6)]
            del arrays
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults()
    default = faults()
    kept = keep_freed_heap()
    faults()
    print(default, kept, faults())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc thresholds: Linux only")
def test_kept_heap_takes_no_page_faults_for_memory_freed_and_allocated_again() -> None:
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, check=True, timeout=60)
    default, kept, after = done.stdout.split()
    assert kept == "True"
    assert int(default) > 1000  # the default thresholds hand the blocks back to the kernel: faults again
    assert int(after) < 50  # kept in the heap: (almost) none


def test_only_a_state_asked_for_again_keeps_the_heap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(predictor_module, "keep_freed_heap", lambda: calls.append(True) or True)
    monkeypatch.setattr(predictor_module, "load_state", lambda settings: object())
    monkeypatch.setattr(predictor_module, "_out_of_gc_sight", lambda: None)
    from ivcrush.settings import Settings

    predictor = predictor_module.Predictor(Settings(workdir=tmp_path / "work"))
    state = predictor.state()
    assert calls == []  # one request (the CLI's): the process's heap left alone
    assert predictor.state() is state and calls == [True]
    assert predictor.state() is state and calls == [True]  # once per state
