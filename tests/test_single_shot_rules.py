"""The two single-shot rules against their exact expectations, enumerated by brute force."""

import itertools

import numpy as np
import pytest

from benchmark.evaluation.protocol import single_shot


def scene(counts, seed=0):
    """Paired query/gallery embeddings: identity i has counts[i] time steps."""
    pids = np.repeat(np.arange(len(counts)), counts)
    frames = np.arange(len(pids))
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), 2))
    query = centres[pids] + rng.normal(scale=0.9, size=(len(pids), 2))
    gallery = centres[pids] + rng.normal(scale=0.9, size=(len(pids), 2))
    return pids, frames, query, gallery


def hit(dist_row, pids, query_pid, chosen, k):
    """Whether the query's identity is among the k nearest chosen items (pessimistic ties)."""
    own = next(c for c in chosen if pids[c] == query_pid)
    before = sum(1 for c in chosen if pids[c] != query_pid and dist_row[c] <= dist_row[own])
    return before < k


def exact_draw_then_drop(pids, dist, k):
    """E[trial value]: every gallery (one item per identity) is equally likely; a trial
    averages over the queries whose twin was not drawn."""
    groups = [np.flatnonzero(pids == p) for p in np.unique(pids)]
    values = []
    for chosen in itertools.product(*groups):
        kept = [q for q in range(len(pids)) if q not in chosen]
        values.append(np.mean([hit(dist[q], pids, pids[q], chosen, k) for q in kept]))
    return float(np.mean(values))


def exact_exclude_then_draw(pids, dist, k):
    """E[trial value]: each query draws its own gallery after its twin left; every query
    with another image of its identity counts in every trial."""
    groups = [np.flatnonzero(pids == p) for p in np.unique(pids)]
    per_query = []
    for q in range(len(pids)):
        mine = [[g for g in group if g != q] for group in groups]
        if not all(mine):
            continue
        per_query.append(np.mean([hit(dist[q], pids, pids[q], chosen, k)
                                  for chosen in itertools.product(*mine)]))
    return float(np.mean(per_query))


@pytest.mark.parametrize("rule,exact", [("draw-then-drop", exact_draw_then_drop),
                                        ("exclude-then-draw", exact_exclude_then_draw)])
@pytest.mark.parametrize("k", [1, 2])
def test_each_rule_estimates_its_exact_expectation(rule, exact, k):
    pids, frames, query, gallery = scene([2, 3, 5, 2])
    dist = np.linalg.norm(query[:, None] - gallery[None], axis=2)
    result = single_shot(query, pids, frames, gallery, pids, frames, trials=4000, seed=1,
                         single_shot_rule=rule)
    per_trial = np.array([(r[r >= 0] < k).mean() for r in result["outcomes"].ranks])
    standard_error = per_trial.std(ddof=1) / np.sqrt(len(per_trial))
    assert abs(per_trial.mean() - exact(pids, dist, k)) < 4 * standard_error
    if k == 1:
        assert result["rank1"] == pytest.approx(per_trial.mean())


def test_the_rules_differ_with_unequal_counts_and_agree_with_equal_ones():
    pids, _, query, gallery = scene([2, 3, 5, 2])
    dist = np.linalg.norm(query[:, None] - gallery[None], axis=2)
    assert abs(exact_draw_then_drop(pids, dist, 1) - exact_exclude_then_draw(pids, dist, 1)) \
        > 0.01
    pids, _, query, gallery = scene([3, 3, 3], seed=2)
    dist = np.linalg.norm(query[:, None] - gallery[None], axis=2)
    assert exact_draw_then_drop(pids, dist, 1) == pytest.approx(
        exact_exclude_then_draw(pids, dist, 1), abs=1e-12)


def test_exclude_then_draw_counts_every_query_and_never_draws_the_twin():
    pids, frames, query, gallery = scene([2, 3, 4])
    # the twin is the nearest item of every query: drawing it would make rank-1 perfect
    twin_first = single_shot(gallery, pids, frames, gallery, pids, frames, trials=50,
                             single_shot_rule="exclude-then-draw", same_modality=True)
    assert (twin_first["outcomes"].ranks >= 0).all()
    assert all(t["num_valid"] == len(pids) for t in twin_first["trials"])
    assert twin_first["rank1"] < 1.0


def test_a_query_whose_identity_has_only_its_twin_does_not_count():
    pids, frames, query, gallery = scene([1, 3, 2])
    result = single_shot(query, pids, frames, gallery, pids, frames, trials=5,
                         single_shot_rule="exclude-then-draw")
    assert (result["outcomes"].ranks[:, 0] == -1).all()
    assert (result["outcomes"].ranks[:, 1:] >= 0).all()


def test_unknown_rule_is_refused():
    pids, frames, query, gallery = scene([2, 2])
    with pytest.raises(ValueError, match="single_shot_rule"):
        single_shot(query, pids, frames, gallery, pids, frames, single_shot_rule="other")
