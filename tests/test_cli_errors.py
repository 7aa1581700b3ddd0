"""Bad input ends in one line naming the file or setting, exit code 2, before any task runs."""

import json
import os
from pathlib import Path

import pytest
from cli_helpers import assert_one_error_line, rgbd, rgbd_inline

SMOKE = ["run", "--profile", "smoke", "--output", "out"]


@pytest.mark.parametrize("argv, fragments, separate", [
    (["--set", "options.pixel-euclidean.height=4"],
     ["unknown section [options.pixel-euclidean]", "did you mean [options.pixels-euclidean]"],
     True),
    (["--set", "options.deep.epoch=2", "--dry-run"],
     ["[options.deep]: unknown option(s) ['epoch']", "no method of that group reads"],
     False),
    (["--set", "options.deep.softmax_lr=0.05", "--dry-run"],
     ["option 'softmax_lr' has moved to [options.deep.softmax] lr",
      "--set options.deep.softmax.lr=..."], False),
    (["--set", "options.distillation.distill_flip=false", "--dry-run"],
     ["[options.distillation.step2.augmentation] flip"], False),
    (["--set", "options.deep.network.arch=vgg", "--dry-run"],
     ["[network]: unknown architecture 'vgg'; known: resnet10"], False),
    (["--set", "options.pixels-euclidean.height=\"four\""],
     ["options of method 'pixels-euclidean'", "height must be an integer, got 'four'"], False),
    (["--set", "run.folds=two"], ["[run]: folds must be an integer, got 'two'"], True),
    (["--methods", ""], ["--methods is empty"], False),
    (["--dataset", "biwi", "--root", ".", "--folds", "99"],
     ["folds = 99", "'biwi' has 5 splits to run", "--folds 1..5"], True),
    (["--dataset", "biwi", "--root", ".", "--set", "dataset.splits=[0, 3]", "--folds", "3"],
     ["folds = 3", "'biwi' has 2 splits to run", "--folds 1..2"], True),
    (["--dataset", "biwi", "--root", ".", "--set", "dataset.splits=[0, 0]"],
     ["splits=[0, 0] must list distinct split numbers 0..4"], True),
    (["--executor", "slurm"], ["srun is not on PATH"], True),
])
def test_bad_settings_fail_in_one_line_before_any_task(tmp_path, capsys, monkeypatch, argv,
                                                       fragments, separate):
    # Slurm must be absent for the --executor slurm case, also where it is installed.
    no_slurm = tmp_path / "bin"
    no_slurm.mkdir()
    monkeypatch.setenv("PATH", str(no_slurm))
    result = rgbd(tmp_path, *SMOKE, *argv) if separate else \
        rgbd_inline(tmp_path, capsys, *SMOKE, *argv)
    assert_one_error_line(result, *fragments)
    assert not (tmp_path / "out" / "records").exists()
    assert not (tmp_path / "cache" / "frames").exists()


def test_typo_in_a_profile_file_names_the_file(tmp_path, capsys):
    profile = tmp_path / "mine.toml"
    profile.write_text('extends = "smoke"\n[options.pixels-euclidian]\nheight = 4\n'
                       '[run]\nfolds = "two"\n')
    assert_one_error_line(rgbd_inline(tmp_path, capsys, "run", "--profile", str(profile),
                                      "--dry-run"), str(profile), "folds must be an integer")
    profile.write_text('extends = "smoke"\n[options.pixels-euclidian]\nheight = 4\n')
    assert_one_error_line(rgbd(tmp_path, "run", "--profile", str(profile), "--dry-run"),
                          str(profile), "did you mean [options.pixels-euclidean]")


def test_missing_extends_target_names_the_profile_that_named_it(tmp_path, capsys):
    profile = tmp_path / "mine.toml"
    profile.write_text('extends = "base.toml"\n')
    assert_one_error_line(rgbd_inline(tmp_path, capsys, "run", "--profile", str(profile),
                                      "--dry-run"),
                          f"{profile}: extends = 'base.toml'", str(tmp_path / "base.toml"),
                          "neither a built-in profile")


def test_a_method_named_twice_is_said_and_run_once(tmp_path):
    result = rgbd(tmp_path, *SMOKE, "--methods", "lomo-xqda,pixels-euclidean,lomo-xqda",
                  "--dry-run")
    assert result.code == 0, result.err
    assert "--methods names lomo-xqda more than once; each method runs once" in result.err
    assert [line.split()[3] for line in result.out.splitlines()] == \
        ["lomo-xqda", "lomo-xqda", "pixels-euclidean", "pixels-euclidean"]


def test_output_or_cache_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert_one_error_line(rgbd(tmp_path, *SMOKE[:3], "--output", "taken"),
                          "--output taken is a file, not a folder")
    assert_one_error_line(rgbd_inline(tmp_path, capsys, *SMOKE, "--cache", "taken"),
                          "--cache taken is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_output(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    assert_one_error_line(rgbd(tmp_path, *SMOKE[:3], "--output", "locked/out"),
                          "--output locked/out is not writable")


@pytest.mark.parametrize("content, fragment, separate", [
    ("{not json", "is unreadable (not valid JSON", True),
    ("{}", "is incomplete (no dataset, method, fold, results)", False),
])
def test_corrupt_record_read_by_tables_names_the_file(tmp_path, capsys, content, fragment,
                                                      separate):
    record = tmp_path / "out" / "records" / "smoke" / "synthetic" / "pixels-euclidean"
    record.mkdir(parents=True)
    (record / "fold0.json").write_text(content)
    argv = ("tables", "--profile", "smoke", "--output", "out")
    result = rgbd(tmp_path, *argv) if separate else rgbd_inline(tmp_path, capsys, *argv)
    assert_one_error_line(result, str(record / "fold0.json").replace(str(tmp_path) + "/", ""),
                          fragment, "delete it")



def test_verify_decodes_every_file_and_names_the_bad_ones(tmp_path):
    import cv2
    import numpy as np

    from benchmark.datasets.authors_splits import image_name

    root = tmp_path / "biwi"
    names = [image_name(0, 0, i) for i in range(3)]
    for folder in ("biwi", "biwi_depth"):
        (root / folder / "images").mkdir(parents=True)
        for name in names:
            cv2.imwrite(str(root / folder / "images" / name), np.full((32, 16, 3), 99, np.uint8))
    cut = root / "biwi_depth" / "images" / names[0]
    cut.write_bytes(cut.read_bytes()[:200])
    (root / "biwi" / "images" / names[1]).write_bytes(b"not an image\xff\xd9")
    cv2.imwrite(str(root / "biwi_depth" / "images" / names[2]), np.zeros((8, 8), np.uint8))
    argv = ("datasets", "--dataset", "biwi", "--root", str(root), "--verify")
    plain = rgbd(tmp_path, *argv)
    assert plain.code == 1 and "Traceback" not in plain.err
    assert f"bad file (truncated): {cut}" in plain.err
    assert "3 of 6 files are bad" in plain.err
    listed = json.loads(rgbd(tmp_path, *argv, "--json").out)
    assert listed["verified_files"] == 6
    assert sorted((Path(b["path"]).parent.parent.name, Path(b["path"]).name, b["reason"])
                  for b in listed["bad_files"]) == [
        ("biwi", names[1], "undecodable"), ("biwi_depth", names[0], "truncated"),
        ("biwi_depth", names[2], "size mismatch")]
