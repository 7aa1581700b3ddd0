"""Results that promise identity with an original have the same bits whichever SIMD kernels
numpy dispatches: this process (the CPU's default) against a subprocess that turns the CPU's
dispatched instruction-set groups off with ``NPY_DISABLE_CPU_FEATURES``. On a CPU without
them both runs take the same kernels, and the test is skipped."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
from numpy.lib.introspect import opt_func_info

REPO = Path(__file__).resolve().parents[1]
FOUND = [group for group in __cpu_dispatch__ if __cpu_features__.get(group)]


def fingerprints() -> dict[str, str]:
    """SHA-256 of each fidelity result on fixed inputs, with the kernel numpy's log runs on."""
    from features import multiscale_retinex as msr
    from features.local_maximal_occurrence import lomo
    from features.whos_descriptor import lab_hist_bins

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 128, 48, 3), dtype=np.uint8)
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    colours = np.vstack([grey, rng.integers(0, 256, (20000, 3), dtype=np.uint8)])
    intensity = rng.integers(0, 256, (40, 30, 3, 2)).astype(np.float64) + msr.OFFSET
    results = {
        "retinex restoration table": msr._restoration_table(),
        "retinex log ratios": msr._log_ratio_sum(intensity),
        "retinex": msr.retinex(images, workers=1),
        "lomo": lomo(images, workers=1),
        "whos lab bins": lab_hist_bins(colours[None]),
    }
    bits = {name: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for name, v in results.items()}
    bits["numpy log kernel"] = opt_func_info("log$", "float64")["log"]["dd"]["current"]
    return bits


def _settings() -> list[list[str]]:
    """Groups to turn off: all of them (numpy's baseline kernels), and AVX-512 alone."""
    above_v3 = [group for group in FOUND if group != "X86_V3"]
    return [FOUND] + ([above_v3] if above_v3 and above_v3 != FOUND else [])


@pytest.mark.skipif(not FOUND, reason="this CPU has no dispatched SIMD groups to turn off")
@pytest.mark.parametrize("disabled", _settings(), ids=" ".join)
def test_fidelity_bits_do_not_depend_on_the_simd_kernels(disabled: list[str]) -> None:
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=" ".join(disabled),
               PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO)]))
    code = "import json, test_cpu_dispatch as t; print(json.dumps(t.fingerprints()))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    other = json.loads(done.stdout.splitlines()[-1])
    here = fingerprints()
    # The setting took effect: the subprocess ran numpy's log on other kernels.
    if disabled == FOUND:
        assert other.pop("numpy log kernel").startswith("baseline")
    else:
        assert other.pop("numpy log kernel") not in disabled
    here.pop("numpy log kernel")
    assert other == here
