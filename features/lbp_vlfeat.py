"""Uniform LBP cell histograms as vlfeat's ``vl_lbp`` MEX (vlfeat 0.9.17-0.9.21) computes them.

``vl_lbp(single(I), cellSize)`` hands MATLAB's column-major image to ``vl_lbp_process``, so the
C code walks the transposed image and uses its transposed pattern table; this module does the
same arithmetic on the row-major array. The net pattern numbering, in image coordinates (row
down, column right), is vlfeat's documented one: the 8 neighbours are read clockwise from East
(E, SE, S, SW, W, NW, N, NE), a bit is set when the neighbour is strictly brighter than the
centre, a run of ``j`` (1..7) set bits starting at neighbour ``i`` is pattern ``7*i + j - 1``,
no or all bits set is pattern 56, anything else 57.

Written here rather than taken from scikit-image because ``skimage.feature.local_binary_pattern``
uses another numbering, another comparison (``>=``) and no cells; vlfeat's bilinear voting into
cells and its per-cell normalisation have no library equivalent.
"""

from __future__ import annotations

import numpy as np

LBP_DIMENSION = 58

# (row offset, column offset) of the bit that vl_lbp_process sets, bit 0 first, as the C code
# addresses MATLAB's transposed image.
_NEIGHBOURS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))


def _uniform_table(transposed: bool) -> np.ndarray:
    """Pattern id of each 8-bit string, built as ``_vl_lbp_init_uniform`` builds it."""
    table = np.full(256, 57, dtype=np.intp)
    table[0x00] = table[0xFF] = 56
    for start in range(8):
        for length in range(1, 8):
            bits = ((1 << length) - 1) << start
            bits = (bits | (bits >> 8)) & 0xFF
            if transposed:
                bits = int(f"{bits:08b}"[::-1], 2) << 3
                bits = (bits | (bits >> 8)) & 0xFF
            table[bits] = 7 * start + length - 1
    return table


_TABLE = _uniform_table(transposed=True)


def lbp_patterns(gray: np.ndarray) -> np.ndarray:
    """(n, h, w) grey images -> (n, h-2, w-2) uniform pattern ids (0..57) of the inner pixels."""
    g = np.asarray(gray, dtype=np.float32)
    h, w = g.shape[1:]
    centre = g[:, 1:-1, 1:-1]
    code = np.zeros(centre.shape, dtype=np.intp)
    for bit, (dr, dc) in enumerate(_NEIGHBOURS):
        neighbour = g[:, 1 + dr : h - 1 + dr, 1 + dc : w - 1 + dc]
        code |= (neighbour > centre).astype(np.intp) << bit
    return _TABLE[code]


def _cell_votes(length: int, cell_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bilinear cell votes of the inner pixels along one axis, in vl_lbp_process's float32.

    Returns (2, length - 2) cell indices and weights (lower cell, upper cell) and the number of
    cells. Cell centres sit at ``(c + 1/2) * cell_size - 1/2``; a pixel whose lower cell is
    past the last full cell is skipped (the C ``continue``) and votes outside the cell grid are
    dropped: both get weight 0 here.
    """
    cells = length // cell_size
    pos = np.arange(1, length - 1, dtype=np.float32)
    w = (pos + np.float32(0.5)) / np.float32(cell_size) - np.float32(0.5)
    lower = np.floor(w).astype(np.intp)
    upper_w = w - lower.astype(np.float32)
    lower_w = np.float32(1.0) - upper_w
    idx = np.stack([lower, lower + 1])
    val = np.stack([lower_w, upper_w]).astype(np.float64)
    val[:, lower >= cells] = 0.0
    val[(idx < 0) | (idx >= cells)] = 0.0
    return np.clip(idx, 0, max(cells - 1, 0)), val, cells


def _dense(idx: np.ndarray, val: np.ndarray, cells: int) -> np.ndarray:
    """(cells, pixels) matrix of the votes from ``_cell_votes``."""
    dense = np.zeros((cells, idx.shape[1]))
    np.add.at(dense, (idx, np.broadcast_to(np.arange(idx.shape[1]), idx.shape)), val)
    return dense


def vl_lbp(gray: np.ndarray, cell_size: int = 16) -> np.ndarray:
    """(n, h, w) grey images -> (n, 58 * (h // cell_size) * (w // cell_size)) float32.

    Matches ``vl_lbp(single(I), cell_size)`` followed by MATLAB's ``(:)``: pattern-major, then
    cell column, then cell row. Each cell holds ``sqrt(v) / (sqrt(sum(v)) + 1e-10)`` in single
    precision. With a power-of-two ``cell_size`` (the original's 16) every vote and every cell
    sum is a short dyadic fraction, so the float64 accumulation here equals the C float sums
    exactly, whatever the order.
    """
    gray = np.asarray(gray)
    n, h, w = gray.shape
    row_idx, row_val, n_rows = _cell_votes(h, cell_size)
    col_idx, col_val, n_cols = _cell_votes(w, cell_size)
    if n_rows == 0 or n_cols == 0:
        return np.zeros((n, 0), dtype=np.float32)
    patterns = lbp_patterns(gray)
    # Sum the column votes per (image, pixel row, cell column, pattern), then the row votes.
    row_base = np.arange(n * (h - 2)).reshape(1, n, h - 2, 1)
    index = (row_base * n_cols + col_idx[:, None, None, :]) * LBP_DIMENSION + patterns[None]
    weights = np.broadcast_to(col_val[:, None, None, :], index.shape)
    per_row = np.bincount(index.ravel(), weights.ravel(),
                          minlength=n * (h - 2) * n_cols * LBP_DIMENSION)
    per_row = per_row.reshape(n, h - 2, n_cols * LBP_DIMENSION)
    hist = np.matmul(_dense(row_idx, row_val, n_rows), per_row)
    hist = hist.reshape(n, n_rows, n_cols, LBP_DIMENSION).astype(np.float32)
    norm = np.sqrt(hist.sum(-1, keepdims=True, dtype=np.float32)) + np.float32(1e-10)
    cells = np.sqrt(hist) / norm
    return cells.transpose(0, 3, 2, 1).reshape(n, -1)
