"""The README's and the manual's examples cannot drift from the code.

Every fenced ``python`` block is run, the blocks of one page in order in one fresh
interpreter (so a page reads like a session), unless an HTML comment right above it says
where it comes from: ``<!-- file: PATH -->`` (the block, split at lines holding only
``...``, must appear in that file verbatim, part by part) or ``<!-- not run: REASON -->``.
Every ``rgbd-bench`` / ``python -m benchmark`` line of a ``bash`` block must parse with
the command-line parser, so a renamed flag fails here. A table of results under
``<!-- table: PATH -->`` must be rows of that committed tables file, so a number shown
is the number the records give.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?:<!--\s*(?P<marker>file|not run):\s*(?P<value>.*?)\s*-->\n)?"
                   r"```(?P<lang>\w*)[^\n]*\n(?P<code>.*?)^```", re.S | re.M)


TABLE = re.compile(r"<!--\s*table:\s*(?P<file>.*?)\s*-->\n(?P<rows>(?:\|[^\n]*\n)+)")


def blocks(page: Path, lang: str) -> list[re.Match[str]]:
    """The fenced blocks of ``lang`` on ``page``, with any marker above them."""
    return [m for m in FENCE.finditer(page.read_text()) if m["lang"] == lang]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=page_id)
def test_python_examples_run_or_match_their_file(page: Path, tmp_path: Path) -> None:
    runnable = []
    for block in blocks(page, "python"):
        if block["marker"] == "not run":
            assert block["value"], f"{page_id(page)}: a block not run must say why"
        elif block["marker"] == "file":
            source = (ROOT / block["value"]).read_text()
            for part in re.split(r"^\s*\.\.\.\n", block["code"], flags=re.M):
                assert part.strip() in source, (
                    f"{page_id(page)}: a block differs from {block['value']}:\n{part}")
        else:
            runnable.append(block["code"])
    if not runnable:
        return
    env = {**os.environ, "RGBD_BENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", "\n".join(runnable)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{page_id(page)}: an example failed:\n{done.stderr}"


def commands(page: Path) -> list[list[str]]:
    """The ``rgbd-bench`` / ``python -m benchmark`` commands of the page's shell blocks."""
    found = []
    for block in blocks(page, "bash"):
        text = block["code"].replace("\\\n", " ")
        for line in text.splitlines():
            for part in re.split(r"&&|;", line.split(" #")[0]):
                words = shlex.split(part.strip().removeprefix("$ "))
                if words[:1] == ["rgbd-bench"]:
                    found.append(words[1:])
                elif words[:3] == ["python", "-m", "benchmark"]:
                    found.append(words[3:])
    return found


@pytest.mark.parametrize("page", [p for p in PAGES if commands(p)], ids=page_id)
def test_shell_examples_use_flags_that_exist(page: Path) -> None:
    parser = build_parser()
    for argv in commands(page):
        try:
            parser.parse_args(argv)
        except SystemExit as stop:
            pytest.fail(f"{page_id(page)}: `rgbd-bench {shlex.join(argv)}` does not parse "
                        f"(exit {stop.code})")


def tables(page: Path) -> list[re.Match[str]]:
    return list(TABLE.finditer(page.read_text()))


@pytest.mark.parametrize("page", [p for p in PAGES if tables(p)], ids=page_id)
def test_result_tables_are_rows_of_their_committed_file(page: Path) -> None:
    for table in tables(page):
        source = set((ROOT / table["file"]).read_text().splitlines())
        rows = table["rows"].splitlines()
        assert len(rows) > 2, f"{page_id(page)}: an empty table under {table['file']}"
        for row in rows:
            assert row in source, f"{page_id(page)}: not a row of {table['file']}: {row}"
