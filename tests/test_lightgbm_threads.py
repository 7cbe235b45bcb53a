"""Every LightGBM call names the same thread count (`ivcrush.training.LIGHTGBM_THREADS`): LightGBM 4 keeps the
latest call's `num_threads` in one process-wide variable that sizes per-thread buffers, so a prediction with the
default thread count while another thread trains crashed the process (SIGSEGV) within about a second."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training import LIGHTGBM_THREADS
from ivcrush.training.predict import booster_predictions
from ivcrush.training.scaling import OWN_LEVEL, PRIOR_COUNT
from ivcrush.training.train import BASE_PARAMS, scaled_quantiles

# a thread trains as the model cache does while another predicts as the evaluation does, for SECONDS
SECONDS = 4.0
RACE = textwrap.dedent(
    f"""
    import threading, time
    from types import SimpleNamespace
    import numpy as np, pandas as pd
    from ivcrush.training.predict import booster_predictions
    from ivcrush.training.train import _params, _train_one

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(2000, 40))).add_prefix("f")
    y = np.abs(x["f0"].to_numpy()) + rng.normal(size=2000)
    params = _params(None, len(x), objective="quantile", alpha=0.5)
    models = SimpleNamespace(boosters={{"q50": _train_one(x, y, params, 50)}})
    rows = x.to_numpy()[:500]
    stop = time.monotonic() + {SECONDS}

    def train():
        while time.monotonic() < stop:
            _train_one(x, y, params, 20)

    def predict():
        while time.monotonic() < stop:
            booster_predictions(models, rows, ["q50"])

    threads = [threading.Thread(target=train), threading.Thread(target=predict)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("survived")
    """
)


class _Spy:
    """A booster that records the keyword arguments of its predictions."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        self.calls.append(kwargs)
        return np.ones(len(x))


def test_training_and_predicting_in_two_threads_do_not_crash() -> None:
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "survived" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_every_training_and_prediction_names_the_same_thread_count() -> None:
    assert BASE_PARAMS["num_threads"] == LIGHTGBM_THREADS
    spies = {name: _Spy() for name in QUANTILE_NAMES}
    booster_predictions(SimpleNamespace(boosters=spies), np.zeros((3, 2)), list(QUANTILE_NAMES))  # type: ignore[arg-type]
    frame = pd.DataFrame({"f": [1.0, 2.0, 3.0], OWN_LEVEL: [4.0, 5.0, np.nan], PRIOR_COUNT: [12.0, 3.0, 0.0]})
    scaled_quantiles(spies, ["f"], frame, 5.0)  # type: ignore[arg-type]
    calls = [call for spy in spies.values() for call in spy.calls]
    assert len(calls) == 2 * len(QUANTILE_NAMES)
    assert all(call == {"num_threads": LIGHTGBM_THREADS} for call in calls)
