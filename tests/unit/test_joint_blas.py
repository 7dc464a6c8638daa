"""driftstream runs BLAS on one thread unless told otherwise (the joint sketch's products).

OpenBLAS's worker threads spin between the joint sketch's small per-batch products and
cost up to 10x their CPU on a busy box (docs/benchmarks.md, "Joint drift").
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_CODE = (
    "import stream, numpy as np, os; a = np.ones((400, 400)); a @ a; "
    "print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))"
)


def _after_import(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CODE], env=env, capture_output=True, text=True, check=True
    )
    setting, threads = out.stdout.split()
    return setting, int(threads)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads counted in /proc")
def test_one_blas_thread_by_default_and_a_user_setting_wins() -> None:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _after_import(base) == ("1", 1)  # no BLAS worker thread after a product
    setting, threads = _after_import({**base, "OPENBLAS_NUM_THREADS": "2"})
    assert setting == "2"
    assert threads == min(2, os.cpu_count() or 1)  # OpenBLAS caps threads at the cores
