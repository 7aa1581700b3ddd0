"""CMC and mAP against hand-computed cases and a brute-force loop."""

import numpy as np
import pytest

from methods.core.metrics import evaluate


def brute_force(distmat, qids, gids, ranks=(1, 5, 10)):
    """Loop over queries; ties ordered with non-matches first (the documented rule)."""
    cmc = {k: [] for k in ranks}
    aps = []
    for i in range(len(qids)):
        items = sorted(range(len(gids)), key=lambda j: (distmat[i, j], qids[i] == gids[j]))
        hits = [qids[i] == gids[j] for j in items]
        if not any(hits):
            continue
        first = hits.index(True)
        for k in ranks:
            cmc[k].append(first < k)
        precisions, found = [], 0
        for position, hit in enumerate(hits, start=1):
            if hit:
                found += 1
                precisions.append(found / position)
        aps.append(np.mean(precisions))
    out = {f"rank{k}": float(np.mean(v)) for k, v in cmc.items()}
    out["mAP"] = float(np.mean(aps))
    return out


def test_hand_computed_case():
    # query 0 (id 1): ranking ids [2, 1, 1] -> first hit at rank 2, AP = (1/2 + 2/3) / 2
    # query 1 (id 2): ranking ids [2, 1, 1] -> first hit at rank 1, AP = 1
    distmat = np.array([[0.5, 0.1, 0.9], [0.5, 0.1, 0.9]])
    gids = np.array([1, 2, 1])
    result = evaluate(distmat, np.array([1, 2]), gids, ranks=(1, 2))
    assert result["rank1"] == pytest.approx(0.5)
    assert result["rank2"] == pytest.approx(1.0)
    assert result["mAP"] == pytest.approx(((0.5 + 2 / 3) / 2 + 1.0) / 2)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(7, 5), (20, 30), (1, 12)])
def test_matches_brute_force(seed, shape):
    rng = np.random.default_rng(seed)
    nq, ng = shape
    distmat = rng.integers(0, 4, size=shape).astype(float)  # many ties on purpose
    qids = rng.integers(0, 4, nq)
    gids = rng.integers(0, 4, ng)
    if not np.isin(qids, gids).any():
        gids[0] = qids[0]
    expected = brute_force(distmat, qids, gids)
    result = evaluate(distmat, qids, gids)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value)


def test_ties_are_pessimistic_and_order_independent():
    distmat = np.zeros((1, 4))
    gids = np.array([3, 1, 2, 4])
    result = evaluate(distmat, np.array([3]), gids, ranks=(1, 4))
    assert result["rank1"] == 0.0 and result["rank4"] == 1.0
    assert result["mAP"] == pytest.approx(1 / 4)
    permuted = evaluate(distmat[:, ::-1], np.array([3]), gids[::-1], ranks=(1, 4))
    assert permuted == result


def test_perfect_and_worst_rankings():
    gids = np.arange(10)
    perfect = evaluate(np.where(np.eye(10) > 0, 0.0, 1.0), gids, gids)
    assert perfect["rank1"] == perfect["mAP"] == 1.0
    worst = evaluate(np.where(np.eye(10) > 0, 1.0, 0.0), gids, gids)
    assert worst["rank1"] == worst["rank5"] == 0.0
    assert worst["rank10"] == 1.0
    assert worst["mAP"] == pytest.approx(0.1)


def test_queries_without_match_are_left_out_and_counted():
    distmat = np.array([[0.0, 1.0], [0.0, 1.0]])
    result = evaluate(distmat, np.array([0, 7]), np.array([0, 1]))
    assert result["num_valid"] == 1 and result["num_skipped"] == 1
    assert result["rank1"] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        evaluate(np.zeros((2, 3)), np.arange(3), np.arange(3))
    with pytest.raises(ValueError, match="no query"):
        evaluate(np.zeros((1, 1)), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.full((1, 1), np.nan), np.array([0]), np.array([0]))


def test_excluded_items_leave_the_ranking():
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    ids_q, ids_g = np.array([1]), np.array([1, 2, 1, 2])
    exclude = np.array([[True, False, False, False]])
    # without item 0: ranking 2 (id2), 1 (id1), 2: the match is second, AP 1/2
    scores = evaluate(dist, ids_q, ids_g, exclude=exclude)
    assert scores["rank1"] == 0.0 and scores["mAP"] == pytest.approx(0.5)
    everything = evaluate(dist, ids_q, ids_g)
    assert everything["mAP"] == pytest.approx((1 + 2 / 3) / 2)
