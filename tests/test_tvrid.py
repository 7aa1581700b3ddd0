"""TVRID: a fake extraction of the synthetic set runs to its numbers, and the scenario
metrics and submission rows equal ones worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_error_line, rgbd_inline
from dataset_exports import write_tvrid

from benchmark.datasets.base import get_dataset
from benchmark.protocol_tvrid import submission_rows, tvrid_scores

RUN = ["run", "--profile", "smoke", "--methods", "pixels-euclidean", "--folds", "1"]


def test_fake_tvrid_of_the_synthetic_set_gives_its_numbers(tmp_path, capsys):
    """Public test = the synthetic fold 0's test identities: the same test metrics."""
    synthetic = get_dataset("synthetic", identities=12, frames_per_identity=8)
    frames = synthetic.build((64, 32))
    test = synthetic.folds(frames, 1, seed=0)[0].test
    write_tvrid(frames, tmp_path / "DB_extracted", test)
    for name, extra in (("synthetic", []), ("tvrid", ["--dataset", "tvrid", "--root",
                                                      str(tmp_path / "DB_extracted")])):
        result = rgbd_inline(tmp_path, capsys, *RUN, *extra, "--output", f"out-{name}",
                             "--cache", "cache")
        assert result.code == 0, result.err
    direct, = (tmp_path / "out-synthetic").rglob("fold0-*.json")
    fake, = (tmp_path / "out-tvrid").rglob("fold0-*.json")
    direct, fake = json.loads(direct.read_text()), json.loads(fake.read_text())
    assert fake["config"]["fold"]["test"] == test.tolist()
    assert fake["results"] == direct["results"]
    tvrid = get_dataset("tvrid", root=str(tmp_path / "DB_extracted"))
    fold = tvrid.folds(tvrid.build((64, 32)), 2, seed=0)
    assert all(f.test.tolist() == test.tolist() for f in fold)
    assert set(fold[0].train) | set(fold[0].val) == set(np.setdiff1d(frames.pids, test))


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
