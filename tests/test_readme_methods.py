"""The README's "Adding a method" shows the shipped plugins as they are: the loss plugin
verbatim, and AGW's lines in the plugin's order."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## Adding a method"):]
SECTION = SECTION[:SECTION.index("\n## ", 1)]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)


def block_after(heading: str) -> str:
    """The first Python block after ``heading`` in the section."""
    rest = SECTION[SECTION.index(heading):]
    return re.search(r"```python\n(.*?)```", rest, flags=re.S).group(1)


def test_the_loss_example_is_the_cross_modal_triplet_plugin_verbatim() -> None:
    plugin = ROOT / "plugins" / "rgbd-cmtriplet" / "rgbd_cmtriplet" / "__init__.py"
    assert block_after("#### A new loss is one class") == plugin.read_text()


def test_the_agw_lines_are_the_plugins_in_order() -> None:
    source = (ROOT / "plugins" / "rgbd-agw" / "rgbd_agw" / "__init__.py").read_text()
    lines = [line.rstrip() for line in source.splitlines()]
    position = 0
    shown = [line.rstrip() for line in block_after("#### A method with its own engine")
             .splitlines()]
    for line in shown:
        if line.strip() in ("", "..."):
            continue
        assert line in lines[position:], f"not in rgbd_agw (in this order): {line!r}"
        position = lines.index(line, position) + 1
    assert sum(1 for line in shown if line.strip() not in ("", "...")) > 20


def test_every_python_block_of_the_section_parses() -> None:
    for block in python_blocks():
        ast.parse(block)
