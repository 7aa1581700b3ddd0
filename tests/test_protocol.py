"""The single-shot protocol: gallery sampling, twin exclusion, seeds."""

import numpy as np
import pytest

from benchmark.evaluation.protocol import draw_single_shot_gallery, single_shot
from methods.core.metrics import evaluate
from methods.core.twins import twin_mask


def make_pairs(n_ids=5, per_id=6):
    pids = np.repeat(np.arange(n_ids), per_id)
    frames = np.arange(n_ids * per_id)
    return pids, frames


def test_single_shot_gallery_draws_one_per_identity_uniformly():
    pids = np.array([0, 0, 0, 1, 1, 2])
    rng = np.random.default_rng(0)
    counts = np.zeros(len(pids))
    for _ in range(3000):
        chosen = draw_single_shot_gallery(pids, rng)
        assert sorted(pids[chosen]) == [0, 1, 2]
        counts[chosen] += 1
    assert counts[5] == 3000
    np.testing.assert_allclose(counts[:3] / 3000, 1 / 3, atol=0.04)
    np.testing.assert_allclose(counts[3:5] / 3000, 1 / 2, atol=0.04)


def test_twin_mask():
    mask = twin_mask(np.array([0, 0, 1]), np.array([10, 11, 10]), np.array([0]),
                     np.array([10]))
    assert mask.tolist() == [True, False, False]


def test_cross_modal_twin_is_excluded():
    # Every query's twin is a perfect match; any other image of the same identity is far.
    pids, frames = make_pairs()
    emb = np.eye(len(pids)) * 10
    result = single_shot(emb, pids, frames, emb, pids, frames, trials=5, seed=1)
    # With the twin excluded, the remaining queries match nothing better than chance order.
    assert result["rank1"] < 1.0
    for trial in result["trials"]:
        assert trial["num_valid"] == len(pids) - 5  # one twin per gallery identity removed


def test_single_modal_gallery_images_leave_the_queries():
    pids, frames = make_pairs(n_ids=4, per_id=3)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(pids), 8))
    result = single_shot(emb, pids, frames, emb, pids, frames, same_modality=True, trials=3)
    assert all(t["num_valid"] == len(pids) - 4 for t in result["trials"])


def test_matches_manual_trial_loop():
    pids, frames = make_pairs(n_ids=6, per_id=5)
    rng = np.random.default_rng(3)
    query, gallery = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    result = single_shot(query, pids, frames, gallery, pids, frames, trials=4, seed=9)
    draws = np.random.default_rng(9)
    expected = []
    for _ in range(4):
        chosen = draw_single_shot_gallery(pids, draws)
        keep = np.array([not any(pids[i] == pids[c] and frames[i] == frames[c]
                                 for c in chosen) for i in range(30)])
        d = np.linalg.norm(query[keep][:, None] - gallery[chosen][None], axis=2)
        expected.append(evaluate(d, pids[keep], pids[chosen])["rank1"])
    assert result["rank1"] == pytest.approx(np.mean(expected))
    assert [t["rank1"] for t in result["trials"]] == pytest.approx(expected)


def brute_force_ap(dist_row, relevant, excluded):
    """AP by the textbook definition, one query, pessimistic ties, by explicit loops."""
    items = [j for j in range(len(dist_row)) if not excluded[j]]
    # pessimistic: among equal distances, non-matches come first
    items.sort(key=lambda j: (dist_row[j], relevant[j]))
    hits, total = 0, 0.0
    for position, j in enumerate(items, start=1):
        if relevant[j]:
            hits += 1
            total += hits / position
    return total / hits if hits else None


def test_map_is_multi_shot_and_equals_brute_force_ap():
    pids, frames = make_pairs(n_ids=5, per_id=4)
    rng = np.random.default_rng(11)
    query = rng.normal(size=(20, 3))
    gallery = np.round(rng.normal(size=(20, 3)), 1)  # rounding makes some ties
    gallery[3] = gallery[2]
    result = single_shot(query, pids, frames, gallery, pids, frames, trials=3, seed=2)
    dist = np.linalg.norm(query[:, None] - gallery[None], axis=2)
    aps = []
    for i in range(20):
        excluded = [pids[j] == pids[i] and frames[j] == frames[i] for j in range(20)]
        relevant = [pids[j] == pids[i] for j in range(20)]
        aps.append(brute_force_ap(dist[i], relevant, excluded))
    assert result["mAP"] == pytest.approx(np.mean(aps), abs=1e-12)
    assert result["map_queries"] == 20
    # independent of the gallery draws
    other = single_shot(query, pids, frames, gallery, pids, frames, trials=3, seed=99)
    assert other["mAP"] == result["mAP"]


def test_single_modal_map_leaves_the_query_itself_out():
    pids, frames = make_pairs(n_ids=3, per_id=2)
    emb = np.array([[0.0], [1.0], [10.0], [11.0], [20.0], [21.0]])
    # each query's nearest other image is its own identity's: AP 1 for all
    result = single_shot(emb, pids, frames, emb, pids, frames, same_modality=True)
    assert result["mAP"] == pytest.approx(1.0)
    shifted = np.array([[0.0], [12.0], [5.0], [30.0], [40.0], [41.0]])
    # query 0 (0): 5 (id1) then 12 (id0): AP 1/2; query 1 (12): 5 (id1), 0 (id0): 1/2;
    # query 2 (5): 0, 12 (id0), then 30 (id1): 1/3; query 3 (30): 40, 41, 12, then 5: 1/4;
    # queries 4 and 5 find each other first: 1
    result = single_shot(shifted, pids, frames, shifted, pids, frames, same_modality=True)
    assert result["mAP"] == pytest.approx((0.5 + 0.5 + 1 / 3 + 0.25 + 1 + 1) / 6)


def test_seed_determinism():
    pids, frames = make_pairs()
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    a = single_shot(q, pids, frames, g, pids, frames, seed=4)
    b = single_shot(q, pids, frames, g, pids, frames, seed=4)
    c = single_shot(q, pids, frames, g, pids, frames, seed=5)
    assert a == b
    assert a["trials"] != c["trials"]


def test_custom_distance_is_used():
    pids, frames = make_pairs(n_ids=3, per_id=2)
    emb = np.zeros((6, 2))

    def oracle(q, g):
        return np.zeros((len(q), len(g)))

    result = single_shot(emb, pids, frames, emb, pids, frames, distance=oracle, trials=2)
    assert result["rank1"] == 0.0  # all ties: pessimistic rule


def test_bad_arguments():
    pids, frames = make_pairs()
    emb = np.zeros((len(pids), 2))
    with pytest.raises(ValueError, match="protocol"):
        single_shot(emb, pids, frames, emb, pids, frames, protocol="nope")
    with pytest.raises(ValueError, match="length"):
        single_shot(emb[:-1], pids, frames, emb, pids, frames)
    with pytest.raises(ValueError, match="trials"):
        single_shot(emb, pids, frames, emb, pids, frames, trials=0)
