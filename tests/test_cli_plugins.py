"""A broken plugin cannot break the suite (run as a separate process, as a user runs it)."""

from cli_helpers import install_plugin, rgbd

SMALL = ["--profile", "smoke", "--set", "dataset.identities=8",
         "--set", "dataset.frames_per_identity=4"]


def test_plugin_that_fails_to_import_is_reported_not_fatal(tmp_path):
    plugins = install_plugin(tmp_path / "site", "broken-plugin", "import no_such_module\n")
    listed = rgbd(tmp_path, "methods", extra_path=plugins)
    assert listed.code == 0, listed.err
    assert "pixels-euclidean" in listed.out
    broken = [line for line in listed.out.splitlines() if line.startswith("broken-plugin ")]
    assert len(broken) == 1 and "BROKEN plugin" in broken[0]
    assert "No module named 'no_such_module'" in broken[0]
    warnings = [line for line in listed.err.splitlines() if "broken-plugin" in line]
    assert len(warnings) == 1 and "pip uninstall broken-plugin" in warnings[0]
    run = rgbd(tmp_path, "run", *SMALL, "--methods", "pixels-euclidean", "--dry-run",
               extra_path=plugins)
    assert run.code == 0 and "pixels-euclidean fold 1" in run.out
    asked = rgbd(tmp_path, "run", *SMALL, "--methods", "my-method", "--dry-run",
                 extra_path=plugins)
    assert asked.code == 2 and "Traceback" not in asked.err
    assert "unknown method 'my-method'" in asked.error_lines()[0]
    assert "plugin 'broken-plugin'" in asked.error_lines()[0]


def test_plugin_claiming_a_builtin_name_is_an_error_naming_both(tmp_path):
    plugins = install_plugin(tmp_path / "site", "clash-plugin", """
        import numpy as np
        from methods.core.matcher import Matcher
        from methods.core.registry import register

        @register("pixels-euclidean")
        class Impostor(Matcher):
            def embed(self, images, modality):
                return np.zeros((len(images), 1))
    """)
    result = rgbd(tmp_path, "run", *SMALL, "--methods", "pixels-euclidean", "--dry-run",
                  extra_path=plugins)
    assert result.code == 2 and "Traceback" not in result.err
    line = result.error_lines()[0]
    assert "methods.handcrafted.pixels.PixelsEuclidean" in line and "clash_plugin.Impostor" in line


def test_method_that_raises_fails_its_tasks_only(tmp_path):
    plugins = install_plugin(tmp_path / "site", "raising-plugin", """
        from methods.core.matcher import Matcher
        from methods.core.registry import register

        @register("raising-method")
        class Raising(Matcher):
            def embed(self, images, modality):
                raise RuntimeError("boom")
    """)
    result = rgbd(tmp_path, "run", *SMALL, "--methods", "raising-method,pixels-euclidean",
                  "--output", "out", extra_path=plugins)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert "raising-method fold 0: RuntimeError: boom" in result.err
    assert "2 task(s) failed" in result.err
    records = tmp_path / "out" / "records"
    found = sorted(p.relative_to(records).as_posix() for p in records.rglob("fold*.json"))
    assert [f.split("/", 1)[1].split("-")[:2] for f in found] == [
        ["synthetic/pixels", "euclidean/fold0"], ["synthetic/pixels", "euclidean/fold1"]]
    assert "tables: " in result.out
    debug = rgbd(tmp_path, "run", *SMALL, "--methods", "raising-method", "--output", "out",
                 "--debug", extra_path=plugins)
    assert debug.code == 1 and "Traceback" in debug.err
