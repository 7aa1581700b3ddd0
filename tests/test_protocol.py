"""The single-shot protocol: gallery sampling, twin exclusion, seeds."""

import numpy as np
import pytest

from benchmark.metrics import evaluate
from benchmark.protocol import draw_single_shot_gallery, single_shot, twin_mask


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
        expected.append(evaluate(d, pids[keep], pids[chosen])["mAP"])
    assert result["mAP"] == pytest.approx(np.mean(expected))
    assert [t["mAP"] for t in result["trials"]] == pytest.approx(expected)


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
