"""Every generated table compiles with pdflatex, without an overfull box, in a plain
one-column article and in a two-column one with 2 cm margins (the paper's layout)."""

import shutil
import subprocess

import pytest
from statistics_helpers import simulated_records

from benchmark.reports.table_formats import LATEX_PACKAGES, latex_escape
from benchmark.reports.tables import write_tables
from benchmark.runs.config import StatisticsConfig

PDFLATEX = shutil.which("pdflatex")
LAYOUTS = {"one-column": "\\documentclass{article}",
           "two-column": "\\documentclass[twocolumn]{article}\n"
                         "\\usepackage[margin=2cm]{geometry}"}
CROSS_METHODS = ("whos-euclidean", "whos-xqda", "lomo-euclidean", "lomo-xqda",
                 "zero-padding", "one-stream", "distill-depth2rgb-softmax",
                 "distill-depth2rgb-triplet", "distill-rgb2depth-softmax",
                 "distill-rgb2depth-triplet", "pixels-euclidean", "my_plugin&co #2")


def test_latex_escape_covers_every_special_character():
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\k") == (
        "a\\_b\\&c\\%d\\$e\\#f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j"
        "\\textbackslash{}k")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    skills = {m: 1.0 - 0.05 * i for i, m in enumerate(CROSS_METHODS)}
    cross, cross_outcomes = simulated_records(skills, dataset="biwi")
    single_skills = {"resnet-rgb-triplet": 1.0, "resnet-rgb-softmax": 0.9}
    single, single_outcomes = simulated_records(single_skills, dataset="biwi",
                                                settings=("rgb->rgb",))
    depth, depth_outcomes = simulated_records({"resnet-depth-triplet": 0.5,
                                               "resnet-depth-softmax": 0.4},
                                              dataset="biwi", settings=("depth->depth",))
    outcomes = {**cross_outcomes, **single_outcomes, **depth_outcomes}
    write_tables(cross + single + depth, folder, "my_smoke", outcomes=outcomes,
                 statistics=StatisticsConfig(resamples=200, permutations=500))
    return sorted(folder.glob("*.tex"))


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: "
                    "texlive-latex-base texlive-latex-recommended; .ci/run installs them)")
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_table_compiles_without_overfull_boxes(generated, layout, tmp_path):
    assert [p.name for p in generated] == ["table1_biwi.tex", "table3_biwi.tex"]
    for table in generated:
        text = table.read_text()
        assert text.startswith("% Needs \\usepackage{booktabs}")
        assert "Table 3:" not in text and "my\\_smoke" in text
        document = tmp_path / f"{table.stem}-{layout}.tex"
        document.write_text(
            LAYOUTS[layout] + "\n" + "".join(f"\\usepackage{{{p}}}\n" for p in LATEX_PACKAGES)
            + "\\begin{document}\nText.\n\\input{" + str(table) + "}\n\\end{document}\n")
        done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error",
                               document.name], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        log = (tmp_path / f"{document.stem}.log").read_text(errors="replace")
        assert done.returncode == 0, log[-3000:]
        assert "Overfull" not in log and "\n! " not in log, log[-3000:]
