"""The C library's ``log`` and ``pow`` on numpy arrays, for results that must not depend on the CPU.

numpy evaluates ``log``, ``exp``, ``power`` and the like with SIMD kernels chosen by the
CPU's instruction set. On a CPU with AVX-512, numpy 2.4 picks kernels whose float64 ``log``
differs from the C library's in the last bit for about 2 in 1,000 arguments; on other CPUs,
or with ``NPY_DISABLE_CPU_FEATURES``, it calls the C library. Where a result must equal an
original bit for bit, these functions evaluate it with the C library's function (Python's
``math`` module calls it directly), so the bits are those of the C library on every CPU.
They cost about 80 ns per element instead of about 2 ns, so they are kept to the values a
fidelity claim rests on.
"""

from __future__ import annotations

import math

import numpy as np


def c_log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of positive float64 ``x`` with the C library's ``log``, same shape.

    Raises ValueError for a zero or negative element, as ``math.log`` does.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(math.log, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


def c_pow(x: np.ndarray, exponent: float) -> np.ndarray:
    """``x ** exponent`` of non-negative float64 ``x`` with the C library's ``pow``, same shape."""
    x = np.asarray(x, dtype=np.float64)
    power = float(exponent)
    values = (math.pow(v, power) for v in x.ravel().tolist())
    return np.fromiter(values, np.float64, x.size).reshape(x.shape)
