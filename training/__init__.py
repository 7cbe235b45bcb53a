"""Training lifecycle: data, train, evaluate, predict.

LightGBM's OpenMP threads busy-wait by default; on a shared, loaded 2-core machine that made the same training
take 17-47 s instead of 4-10 s (measured in fresh processes). Every module that loads LightGBM is in this
package, so `OMP_WAIT_POLICY=passive` is set here, before any of them loads it, unless the environment sets
it already. Results are identical.

Every LightGBM call of the process names the same thread count, `LIGHTGBM_THREADS`: LightGBM 4 keeps the
`num_threads` of its latest call in one process-wide variable that sizes per-thread buffers, so a prediction
with the default (all cores) while another thread trained on one thread crashed the training with SIGSEGV
(the main job evaluates while the model cache trains: seen under load, reproduced in a second by
tests/test_lightgbm_threads.py without it).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

LIGHTGBM_THREADS = 1  # `num_threads` of every training and prediction (the module docstring says why)
