"""Records with per-query outcomes, simulated, for the tables, compare and LaTeX tests."""

from __future__ import annotations

import numpy as np

from benchmark.evaluation.outcomes import QueryOutcomes
from benchmark.evaluation.protocol import trial_scores

CROSS = ("rgb->depth", "depth->rgb")


def simulated_outcomes(rng, skill: float, difficulty: np.ndarray, per_id: int, trials: int,
                       noise: np.random.Generator) -> QueryOutcomes:
    """Ranks of the first true match among ``len(difficulty)`` identities: a query of
    identity i finds its match first with probability ``skill * difficulty[i]``."""
    n_ids = len(difficulty)
    pids = np.repeat(np.arange(n_ids), per_id)
    p = np.clip(skill * difficulty[pids], 0, 1)
    first = noise.random((trials, len(pids))) < p
    ranks = np.where(first, 0, noise.integers(1, n_ids, size=(trials, len(pids))))
    ap = np.clip(p + 0.1 * noise.standard_normal(len(pids)), 0.01, 1)
    return QueryOutcomes(pids, ranks.astype(np.int32), ap)


def simulated_records(skills: dict[str, float], dataset: str = "synthetic", n_ids: int = 40,
                      folds: int = 2, per_id: int = 4, trials: int = 3, seed: int = 0,
                      settings: tuple[str, ...] = CROSS, seeds: int | dict[str, int] = 1,
                      seed_effect: float = 0.0):
    """(records, outcomes) of methods with the given skills on the same queries; with
    ``seeds`` (one count, or one per method) each method has that many training seeds,
    whose skill moves by ``seed_effect`` times a standard normal per (seed, fold)."""
    rng = np.random.default_rng(seed)
    records, outcomes = [], {}
    for fold in range(folds):
        difficulty = rng.uniform(0.1, 0.9, size=n_ids)
        for number, (method, skill) in enumerate(skills.items()):
            count = seeds if isinstance(seeds, int) else seeds[method]
            for index in range(count):
                noise = np.random.default_rng([seed, fold, number, index] if index
                                              else [seed, fold, number])
                moved = skill + (seed_effect * noise.standard_normal() if index or count > 1
                                 else 0.0)
                by_setting = {s: simulated_outcomes(rng, moved, difficulty, per_id, trials,
                                                    noise) for s in settings}
                results = {}
                for setting, item in by_setting.items():
                    scores = [trial_scores(r) for r in item.ranks]
                    results[setting] = {k: float(np.mean([t[k] for t in scores]))
                                        for k in ("rank1", "rank5", "rank10")}
                    results[setting]["mAP"] = float(np.nanmean(item.ap))
                records.append({"dataset": dataset, "method": method, "fold": fold,
                                "task_hash": f"{method}-{fold}-{index}",
                                "config": {"seed_index": index}, "results": results})
                outcomes[(dataset, method, fold, index)] = by_setting
    return records, outcomes
