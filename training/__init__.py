"""Training lifecycle: data, train, evaluate, predict.

LightGBM's OpenMP threads busy-wait by default; on a shared, loaded 2-core machine that made the same training
take 17-47 s instead of 4-10 s (measured in fresh processes). Every module that loads LightGBM is in this
package, so `OMP_WAIT_POLICY=passive` is set here, before any of them loads it, unless the environment sets
it already. Results are identical.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
