"""MkDocs hook: the reference run's figures (``results/**.png``) are part of the site, so
the manual shows the committed figures themselves, not copies that could go stale."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: dict) -> Files:
    root = Path(config["config_file_path"]).parent
    for image in sorted((root / "results").rglob("*.png")):
        files.append(File(str(image.relative_to(root)), str(root), config["site_dir"],
                          config["use_directory_urls"]))
    return files
