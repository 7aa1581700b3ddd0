"""Provenance: a run's commit is dirty only when the code differs from it."""

import shutil
import subprocess

import pytest

from benchmark.runs.provenance import git_commit, provenance


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_commit_is_dirty_only_when_code_changes(tmp_path):
    (tmp_path / "benchmark").mkdir()
    (tmp_path / "results").mkdir()
    for name in ("benchmark/code.py", "README.md", "results/table.csv"):
        (tmp_path / name).write_text("one\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "README.md").write_text("two\n")
    (tmp_path / "results/table.csv").write_text("two\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "benchmark/code.py").write_text("two\n")
    assert git_commit(tmp_path) == head + "-dirty"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_outside_git_the_commit_is_unknown(tmp_path):
    if subprocess.run(["git", "rev-parse"], cwd=tmp_path, capture_output=True).returncode == 0:
        pytest.skip("the temporary folder is inside a git repository")
    assert git_commit(tmp_path) == "unknown"


def test_block_fields():
    block = provenance()
    assert {"commit", "date", "host", "versions"} <= set(block)
    assert "numpy" in block["versions"]
