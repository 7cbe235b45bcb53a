"""The C heap of a long-lived serving process: glibc's malloc told to keep freed memory for reuse.

A request allocates and frees the same arrays again and again (a 100-event scan: a few (100, 592) float64
arrays of ~0.5 MB). By default glibc hands blocks that large back to the kernel (its mmap threshold, at most the
largest block freed so far, and its trim threshold, twice that), so the next request takes the page faults of
fresh memory again: 200-330 faults, ~0.3-0.5 ms per scan, measured. Fixed thresholds keep those blocks in the
heap: at most TRIM_THRESHOLD of freed memory is kept per process. Only for a state that serves a second request
(`predictor.Predictor`: a server's, not one CLI request's); a no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 64 << 20  # freed memory at the heap's top kept before it is returned to the kernel
MMAP_THRESHOLD = 4 << 20  # blocks at least this large are mapped (and unmapped) on their own


def keep_freed_heap() -> bool:
    """Set glibc's trim and mmap thresholds of this process (idempotent); False where they cannot be set (not
    Linux, not glibc) and nothing changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
