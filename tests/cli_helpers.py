"""Running ``rgbd-bench`` as a user does: a separate process, stderr not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def error_lines(self) -> list[str]:
        """The ``rgbd-bench: error:`` lines of stderr."""
        return [line for line in self.err.splitlines() if line.startswith("rgbd-bench: error")]


def rgbd_env(tmp: Path, extra_path: Path | None = None,
             extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's ``rgbd-bench``: a private cache, optionally plugins and
    more variables (a Slurm cluster's ``SLURM_CONF``)."""
    env = dict(os.environ, RGBD_BENCH_CACHE=str(tmp / "cache"), **(extra_env or {}))
    env.pop("RGBD_BENCH_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path or ""), str(REPO)]))
    return env


def rgbd(tmp: Path, *argv: str, extra_path: Path | None = None, umask: int | None = None,
         extra_env: dict[str, str] | None = None) -> Result:
    """``python -m benchmark ARGV`` with a private cache and, optionally, plugins on the
    path, more environment variables or a file-creation mask."""
    done = subprocess.run([sys.executable, "-m", "benchmark", *argv], cwd=tmp,
                          env=rgbd_env(tmp, extra_path, extra_env), capture_output=True,
                          text=True,
                          timeout=300, preexec_fn=None if umask is None
                          else (lambda: os.umask(umask)))
    return Result(done.returncode, done.stdout, done.stderr)


def rgbd_inline(tmp: Path, capsys, *argv: str) -> Result:
    """The same in this process (cheaper; for the many variants of one failure)."""
    from benchmark.cli import main

    previous = os.getcwd()
    os.chdir(tmp)
    try:
        code = main(list(argv))
    finally:
        os.chdir(previous)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """Exit code 2, exactly one line on stderr, no traceback, every fragment in it."""
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def install_plugin(folder: Path, distribution: str, source: str) -> Path:
    """A plugin distribution (module + dist-info with an entry point) as pip leaves it."""
    module = distribution.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\n"
                                   f"Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[rgbd_bench.methods]\n{distribution} = {module}\n")
    return folder
