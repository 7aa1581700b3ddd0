"""TVRID: a fake extraction of the synthetic set runs to its numbers; the scenario
metrics and submission rows equal ones worked out by hand; a run under their protocol
scores what a plain re-scoring of its exported rankings gives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_error_line, rgbd_inline
from dataset_exports import SMALL_SMOKE_ARGS, small_smoke_synthetic, write_tvrid

from benchmark.datasets.base import get_dataset
from benchmark.evaluation.protocol import single_shot
from benchmark.evaluation.protocol_tvrid import Passages, submission_rows, tvrid_scores

RUN = ["run", "--profile", "smoke", "--methods", "pixels-euclidean", "--folds", "1"]


def test_fake_tvrid_of_the_synthetic_set_gives_its_numbers(tmp_path, capsys):
    """Public test = the synthetic fold 0's test identities: the same test metrics."""
    synthetic, size = small_smoke_synthetic()
    frames = synthetic.build(size)
    test = synthetic.folds(frames, 1, seed=0)[0].test
    write_tvrid(frames, tmp_path / "DB_extracted", test)
    from_tvrid = ["--dataset", "tvrid", "--root", str(tmp_path / "DB_extracted")]
    for name, extra in (("synthetic", SMALL_SMOKE_ARGS), ("tvrid", from_tvrid)):
        result = rgbd_inline(tmp_path, capsys, *RUN, *extra, "--output", f"out-{name}",
                             "--cache", "cache")
        assert result.code == 0, result.err
    direct, = (tmp_path / "out-synthetic").rglob("fold0-*.json")
    fake, = (tmp_path / "out-tvrid").rglob("fold0-*.json")
    direct, fake = json.loads(direct.read_text()), json.loads(fake.read_text())
    assert fake["config"]["fold"]["test"] == test.tolist()
    assert fake["results"] == direct["results"]
    tvrid = get_dataset("tvrid", root=str(tmp_path / "DB_extracted"))
    fold = tvrid.folds(tvrid.build(size), 2, seed=0)
    assert all(f.test.tolist() == test.tolist() for f in fold)
    assert set(fold[0].train) | set(fold[0].val) == set(np.setdiff1d(frames.pids, test))


def test_fake_tvrid_with_generated_folds_gives_the_synthetic_numbers_on_every_fold(
        tmp_path, capsys):
    """Its frames come in identity order whatever the label files' order (training rows
    first), so generated folds draw the same galleries as the synthetic set's."""
    synthetic, size = small_smoke_synthetic()
    frames = synthetic.build(size)
    write_tvrid(frames, tmp_path / "DB_extracted", synthetic.folds(frames, 1, seed=0)[0].test)
    run = [*RUN[:-1], "2"]
    for name, extra in (("synthetic", SMALL_SMOKE_ARGS),
                        ("tvrid", ["--dataset", "tvrid", "--root", str(tmp_path / "DB_extracted"),
                                   "--set", 'dataset.split_source="generate"'])):
        result = rgbd_inline(tmp_path, capsys, *run, *extra, "--output", f"out-{name}",
                             "--cache", "cache")
        assert result.code == 0, result.err
    for fold in (0, 1):
        direct, = (tmp_path / "out-synthetic").rglob(f"fold{fold}-*.json")
        fake, = (tmp_path / "out-tvrid").rglob(f"fold{fold}-*.json")
        assert json.loads(fake.read_text())["results"] == json.loads(direct.read_text())["results"]


def test_a_passage_without_frames_names_its_label_line(tmp_path, capsys):
    root = tmp_path / "DB_extracted"
    frames = get_dataset("synthetic", identities=6, frames_per_identity=2).build((16, 8))
    write_tvrid(frames, root, np.array([0, 1]))
    labels = pd.read_csv(root / "train_labels.csv")
    for f in (root / "train" / labels.path[2]).iterdir():
        f.unlink()
    result = rgbd_inline(tmp_path, capsys, *RUN, "--dataset", "tvrid", "--root", str(root),
                         "--dry-run")
    assert_one_error_line(result, f"line 4 of train_labels.csv (train/{labels.path[2]})",
                          "no passage folder")


@pytest.fixture
def passages():
    """Five passages: pids, camera names, passage names, and a query x gallery distance
    matrix (the diagonal is the query's own passage)."""
    pids = np.array([1, 1, 2, 1, 2])
    cams = np.array(["flat", "flat", "upward", "downward", "flat"])
    names = np.array(["IN", "OUT", "OUT", "IN", "OUT"])
    dist = np.array([[0.0, 0.5, 0.2, 0.9, 0.3],
                     [0.1, 0.0, 0.4, 0.3, 0.2],
                     [0.7, 0.6, 0.0, 0.8, 0.1],
                     [0.4, 0.6, 0.2, 0.0, 0.9],
                     [0.3, 0.2, 0.5, 0.6, 0.0]])
    return pids, cams, names, dist


def test_scenario_metrics_equal_a_hand_computed_ranking(passages):
    pids, cams, names, dist = passages
    scores = tvrid_scores(dist, pids, cams, names, np.array(["a", "b", "c", "d", "e"]))
    # global: q0 ranks 2,4,1,3 -> matches at ranks 3,4: AP (1/3 + 2/4)/2; first hit 3.
    # q1: 0,4,3,2 -> matches at 1,3: AP (1 + 2/3)/2. q2: 4,1,0,3 -> match at 1: AP 1.
    # q3: 2,0,1,4 -> matches at 2,3: AP (1/2 + 2/3)/2. q4: 1,0,2,3 -> match at 3: AP 1/3.
    ap = [(1 / 3 + 2 / 4) / 2, (1 + 2 / 3) / 2, 1.0, (1 / 2 + 2 / 3) / 2, 1 / 3]
    assert scores["global"]["mAP"] == pytest.approx(np.mean(ap))
    assert scores["global"]["rank1"] == pytest.approx(2 / 5)
    assert scores["global"]["rank5"] == 1.0 and scores["global"]["num_valid"] == 5
    # same camera, other passage: q0 (flat IN) keeps 1, 4 -> 4 (pid 2) then 1: AP 1/2.
    # q1 (flat OUT) keeps 0: AP 1. q4 (flat OUT) keeps 0 (pid 1): no match, skipped.
    # q2 and q3 have no other passage of their camera.
    same = scores["same_cam_cross_passage"]
    assert same["num_valid"] == 2 and same["mAP"] == pytest.approx((1 / 2 + 1) / 2)
    assert same["rank1"] == pytest.approx(1 / 2)
    # upward <-> downward, other passage: q2 (up OUT) keeps 3 (pid 1), q3 (down IN) keeps
    # 2 (pid 2): no query has a true match; their scorer then gives mAP 0 and no CMC.
    assert scores["up_down_cross_passage"] == {"mAP": 0.0, "num_valid": 0}
    # flat vs others, other passage: q0 keeps 2 (pid 2), q2 keeps 0, q4 keeps 3: no match.
    # q1 keeps 3 (pid 1): AP 1; q3 keeps 1 (0.6, pid 1) before 4 (0.9): AP 1.
    flat = scores["flat_vs_others"]
    assert flat["num_valid"] == 2 and flat["mAP"] == 1.0 and flat["rank1"] == 1.0


def test_submission_rows_rank_every_other_passage(passages):
    _, _, _, dist = passages
    rows = submission_rows(dist, np.array(["a", "b", "c", "d", "e"]),
                           np.array([f"p{i}" for i in range(5)]))
    assert list(rows.columns) == ["query_gallery_id", "query_path", "gallery_id",
                                  "gallery_path", "rank", "distance"]
    first = rows[rows.query_gallery_id == "a"]
    assert first.gallery_id.tolist() == ["c", "e", "b", "d"]
    assert first["rank"].tolist() == [1, 2, 3, 4]
    assert first.distance.tolist() == [0.2, 0.3, 0.5, 0.9]
    assert len(rows) == 20 and first.gallery_path.tolist() == ["p2", "p4", "p1", "p3"]


def test_the_tvrid_protocol_of_a_run_scores_the_hand_computed_ranking(passages):
    """Through ``single_shot``: the headline numbers are the global scenario's, one trial,
    and the outcomes hold each query passage's first-match rank and AP."""
    pids, cams, names, dist = passages
    ids = np.array(["a", "b", "c", "d", "e"])
    items = Passages(ids, cams, names, np.array([f"p{i}" for i in range(5)]))
    emb = np.arange(5.0)[:, None]
    result = single_shot(emb, pids, np.arange(5), emb, pids, np.arange(5),
                         protocol="tvrid", passages=items, distance=lambda q, g: dist)
    ap = [(1 / 3 + 2 / 4) / 2, (1 + 2 / 3) / 2, 1.0, (1 / 2 + 2 / 3) / 2, 1 / 3]
    assert result["mAP"] == pytest.approx(np.mean(ap)) and result["rank1"] == 2 / 5
    assert result["scenarios"]["same_cam_cross_passage"]["num_valid"] == 2
    assert len(result["trials"]) == 1
    assert result["outcomes"].ranks.tolist() == [[2, 0, 0, 1, 2]]
    assert result["outcomes"].ap == pytest.approx(ap)


def test_a_passage_of_several_frames_is_their_mean_embedding():
    """Passage A = frames at 0 and 2 (mean 1), B at 1.5, C at 4: A's nearest is B."""
    emb = np.array([[0.0], [2.0], [1.5], [4.0]])
    pids = np.array([7, 7, 7, 8])
    items = Passages(np.array(["A", "A", "B", "C"]), np.array(["flat"] * 4),
                     np.array(["IN", "IN", "OUT", "IN"]), np.array(["a", "a", "b", "c"]))
    seen = []

    def distance(q, g):
        seen.append(q.ravel().tolist())
        return np.abs(q - g.T)

    result = single_shot(emb, pids, np.arange(4), emb, pids, np.arange(4),
                         protocol="tvrid", passages=items, distance=distance)
    assert seen == [[1.0, 1.5, 4.0]]
    # A: B (0.5) then C; B: A (0.5) then C; C: no other passage of identity 8.
    assert result["rank1"] == 1.0 and result["mAP"] == 1.0 and result["map_queries"] == 2


def score_rankings(rankings: pd.DataFrame, labels: pd.DataFrame, scenario: str) -> dict:
    """A plain re-scoring of submission rows as TVRID defines its metrics: filter each
    query's list to the scenario's pairs, re-rank, CMC of the first true match and AP."""
    meta = labels.set_index("gallery_id")
    firsts, aps = [], []
    for query, rows in rankings.sort_values("rank").groupby("query_gallery_id"):
        q = meta.loc[query]
        hits = []
        for gallery in rows.gallery_id:
            g = meta.loc[gallery]
            cams = {q.cam_name, g.cam_name}
            other = q.passage_name != g.passage_name
            kept = {"global": True,
                    "same_cam_cross_passage": q.cam_name == g.cam_name and other,
                    "up_down_cross_passage": cams == {"upward", "downward"} and other,
                    "flat_vs_others": "flat" in cams and len(cams) == 2 and other}[scenario]
            if kept:
                hits.append(g.person_id == q.person_id)
        if any(hits):
            firsts.append(hits.index(True) + 1)
            found = np.flatnonzero(hits) + 1
            aps.append(np.mean(np.arange(1, len(found) + 1) / found))
    if not firsts:
        return {"mAP": 0.0, "num_valid": 0}
    return {"mAP": np.mean(aps), "num_valid": len(firsts),
            **{f"rank{k}": np.mean(np.array(firsts) <= k) for k in (1, 5, 10)}}


def test_exported_rankings_rescore_to_the_records_numbers(tmp_path, capsys):
    """``run`` under ``protocol = "tvrid"`` and ``export-rankings``: the CSVs have their
    columns, and re-scoring them gives every scenario's numbers of the record."""
    root = tmp_path / "DB_extracted"
    synthetic, size = small_smoke_synthetic()
    frames = synthetic.build(size)
    labels = write_tvrid(frames, root, np.unique(frames.pids)[::2]) / "public_test_labels.csv"
    args = ["--profile", "smoke", "--methods", "pixels-euclidean,resnet-rgb-softmax", "--folds",
            "1", "--dataset", "tvrid", "--root", str(root), "--set", 'run.protocol="tvrid"',
            "--output", "out", "--cache", "cache"]
    assert rgbd_inline(tmp_path, capsys, "run", *args).code == 0
    result = rgbd_inline(tmp_path, capsys, "export-rankings", *args, "--to", "sub")
    assert result.code == 0, result.err
    labels = pd.read_csv(labels, dtype=str)
    for method, track, setting in (("pixels-euclidean", "cross", "rgb->depth"),
                                   ("resnet-rgb-softmax", "rgb", "rgb->rgb")):
        rankings = pd.read_csv(tmp_path / "sub" / method / "fold0" / f"rankings_{track}.csv",
                               dtype={"query_gallery_id": str, "gallery_id": str})
        assert tuple(rankings.columns) == ("query_gallery_id", "query_path", "gallery_id",
                                           "gallery_path", "rank", "distance")
        assert len(rankings) == len(labels) * (len(labels) - 1)
        record, = (tmp_path / "out").rglob(f"{method}/fold0-*.json")
        scores = json.loads(record.read_text())["results"][setting]["scenarios"]
        for scenario, ours in scores.items():
            assert score_rankings(rankings, labels, scenario) == pytest.approx(ours), \
                (method, setting, scenario)


def test_the_tvrid_protocol_needs_passages(tmp_path, capsys):
    result = rgbd_inline(tmp_path, capsys, *RUN, "--set", 'run.protocol="tvrid"', "--dry-run")
    assert_one_error_line(result, "protocol = 'tvrid'", "'synthetic' has none")
