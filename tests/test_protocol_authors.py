"""The authors' evaluator: sampling, sklearn-0.15 interpolated AP, single-shot CMC, bugs."""

from __future__ import annotations

import numpy as np
import pytest

from methods.core.protocol_authors import (
    DRAWS_PER_IDENTITY,
    authors_code_protocol,
    draw_per_identity,
    interpolated_average_precision,
)


def reference_ap(distances: np.ndarray, y_true: np.ndarray) -> float:
    """scikit-learn 0.15's average_precision_score, written out loop by loop."""
    order = np.argsort(distances, kind="stable")
    d, y = distances[order], y_true[order]
    points = []  # (recall, precision) at the end of each run of equal distances
    for i in range(len(d)):
        if i == len(d) - 1 or d[i + 1] != d[i]:
            tp = y[: i + 1].sum()
            points.append((tp / y.sum(), tp / (i + 1)))
    area, previous = 0.0, (0.0, 1.0)
    for recall, precision in points:
        area += (recall - previous[0]) * (precision + previous[1]) / 2
        previous = (recall, precision)
    return area


def ap(distances, y_true, valid=None) -> float:
    d = np.asarray(distances, dtype=float)[None, :]
    y = np.asarray(y_true, dtype=bool)[None, :]
    v = np.ones_like(y) if valid is None else np.asarray(valid, dtype=bool)[None, :]
    return float(interpolated_average_precision(d, y, v)[0])


@pytest.mark.parametrize(("y", "expected"), [([1, 0], 1.0), ([0, 1], 0.25),
                                             ([1, 0, 1], 0.5 + 0.5 * (0.5 + 2 / 3) / 2),
                                             ([0, 0, 1], 1 / 6), ([1, 1, 0], 1.0)])
def test_interpolated_ap_hand_cases(y, expected):
    assert ap(np.arange(len(y)), y) == pytest.approx(expected)


def test_interpolated_ap_ties_and_mask():
    assert ap([1.0, 1.0], [0, 1]) == pytest.approx(0.75)  # one point (recall 1, precision 1/2)
    # the invalid first entry is left out, leaving [1, 0]
    assert ap([0.0, 1.0, 2.0], [0, 1, 0], valid=[0, 1, 1]) == pytest.approx(1.0)
    assert np.isnan(ap([0.0, 1.0], [1, 0], valid=[0, 1]))


def test_interpolated_ap_matches_reference_on_random_rows():
    rng = np.random.default_rng(3)
    d = np.sort(rng.integers(0, 6, size=(200, 12)).astype(float), axis=1)  # many ties
    y = rng.random((200, 12)) < 0.3
    valid = rng.random((200, 12)) < 0.8
    got = interpolated_average_precision(d, y, valid)
    for i in range(200):
        if not (y[i] & valid[i]).any():
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(reference_ap(d[i][valid[i]], y[i][valid[i]]))


def test_draws_fifty_per_identity_with_replacement_and_the_dropped_identity():
    pids = np.array([3, 3, 1, 7, 7, 7])
    frames = np.array([10, 11, 12, 13, 14, 15])
    rng = np.random.default_rng(0)
    drawn = draw_per_identity(pids, frames, DRAWS_PER_IDENTITY, False, rng)
    assert len(drawn) == 3 * DRAWS_PER_IDENTITY
    assert np.array_equal(np.unique(pids[drawn], return_counts=True)[1], [50, 50, 50])
    assert np.all(np.diff(pids[drawn]) >= 0)  # list order: identity, then image
    assert set(drawn[pids[drawn] == 1]) == {2}  # one image, drawn 50 times
    drawn = draw_per_identity(pids, frames, DRAWS_PER_IDENTITY, True, rng)
    assert set(pids[drawn]) == {1, 3}


def coded(pids: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return np.column_stack([pids, frames]).astype(float)


def twin_distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """0 for the twin, 2 for other images of the same identity, 1 for other identities."""
    same_pid = q[:, None, 0] == g[None, :, 0]
    twin = same_pid & (q[:, None, 1] == g[None, :, 1])
    return np.where(twin, 0.0, np.where(same_pid, 2.0, 1.0))


def test_twin_is_never_the_match_without_the_bug_and_usually_stays_with_it():
    pids = np.repeat(np.arange(4), 2)  # half of an identity's draws are the query's twin
    frames = np.arange(len(pids))
    emb = coded(pids, frames)
    args = (emb, pids, frames, emb, pids, frames)
    fixed = authors_code_protocol(*args, trials=3, seed=1, distance=twin_distance)
    assert all(t["rank1"] == 0.0 for t in fixed["trials"])  # true matches all rank last
    assert fixed["rank5"] == 1.0  # 4 identities: the true one is 4th in every gallery
    buggy = authors_code_protocol(*args, trials=3, seed=1, distance=twin_distance,
                                  authors_bug=True)
    assert buggy["rank1"] > 0.3  # the twin stays in and wins when the gallery keeps it
    assert buggy["mAP"] > fixed["mAP"]


def test_the_bug_drops_the_highest_identity():
    pids = np.repeat(np.arange(5), 3)
    frames = np.arange(len(pids))
    emb = np.random.default_rng(0).normal(size=(len(pids), 4))
    args = (emb, pids, frames, emb, pids, frames)
    fixed = authors_code_protocol(*args, trials=2, same_modality=True)
    buggy = authors_code_protocol(*args, trials=2, same_modality=True, authors_bug=True)
    assert fixed["trials"][0]["num_valid"] == 5 * DRAWS_PER_IDENTITY
    assert buggy["trials"][0]["num_valid"] == 4 * DRAWS_PER_IDENTITY


@pytest.mark.parametrize("bug", [False, True])
def test_perfect_embeddings_score_one(bug):
    pids = np.repeat(np.arange(6), 4)
    frames = np.arange(len(pids))
    emb = np.eye(6)[pids] * 10
    out = authors_code_protocol(emb, pids, frames, emb, pids, frames, trials=2,
                                authors_bug=bug)
    assert out["rank1"] == out["mAP"] == 1.0
    assert len(out["trials"]) == 2 and set(out["trials"][0]) >= {"rank1", "rank5", "rank10",
                                                                  "mAP"}


def test_map_matches_a_brute_force_run_of_one_trial():
    rng = np.random.default_rng(5)
    pids = np.repeat(np.arange(4), [3, 5, 2, 4])
    frames = np.arange(len(pids)) * 7
    q_emb, g_emb = rng.normal(size=(len(pids), 3)), rng.normal(size=(len(pids), 3))
    out = authors_code_protocol(q_emb, pids, frames, g_emb, pids, frames, trials=1, seed=9)
    draws = np.random.default_rng(9)
    g = draw_per_identity(pids, frames, DRAWS_PER_IDENTITY, False, draws)
    q = draw_per_identity(pids, frames, DRAWS_PER_IDENTITY, False, draws)
    aps = []
    for i in q:
        keep = frames[g] != frames[i]
        d = np.linalg.norm(g_emb[g][keep] - q_emb[i], axis=1)
        aps.append(reference_ap(d, pids[g][keep] == pids[i]))
    assert out["mAP"] == pytest.approx(np.mean(aps))


def test_seeded_and_in_range():
    rng = np.random.default_rng(2)
    pids = np.repeat(np.arange(5), 4)
    frames = np.arange(len(pids))
    q, g = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    a = authors_code_protocol(q, pids, frames, g, pids, frames, trials=3, seed=4)
    b = authors_code_protocol(q, pids, frames, g, pids, frames, trials=3, seed=4)
    assert a == b
    assert all(0.0 <= a[k] <= 1.0 for k in ("rank1", "rank5", "rank10", "mAP"))
    assert a["rank1"] <= a["rank5"] <= a["rank10"]
