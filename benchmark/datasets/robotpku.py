"""RobotPKU RGBD-ID, read through the authors' prepared (open-reid) layout only.

Identities are numbered as in the authors' ``meta.json`` (90, the last one without
images); cameras 00/01 are its two sequences. The default folds are the authors'
published splits: 40 train, 10 val and 40 test identities (39 with images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.datasets.real import README_HINT, RealDataset, RealOptions, check_choice
from methods.core.errors import DatasetError
from methods.core.frames import PairedFrames

PREPARED_ONLY = ("RobotPKU is read only through the prepared layout: <root>/pku/images and "
                 "<root>/pku_depth/images with the authors' image names; convert the raw "
                 f"release into it first ({README_HINT})")


@dataclass(frozen=True)
class RobotPkuOptions(RealOptions):
    """Options of the ``robotpku`` data set (those of :class:`RealOptions`).

    root: the folder with ``pku/images`` and ``pku_depth/images``.
    layout: ``auto`` or ``prepared`` (the same here).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("layout", self.layout, ("auto", "prepared"), f"; {PREPARED_ONLY}")


class RobotPkuDataset(RealDataset):
    """RobotPKU RGBD-ID; folds: the authors' published splits (what they ran)."""

    name = "robotpku"
    Options = RobotPkuOptions
    split_sizes = (40, 10, 40)
    authors_name = "pku"
    folders = ("pku", "pku_depth")
    obtain = ("RobotPKU RGBD-ID is requested from its authors (Liu et al.); arrange it in "
              "the prepared layout pku/images + pku_depth/images.")

    def layout(self, root: Path) -> str:
        try:
            return super().layout(root)
        except DatasetError as error:
            raise DatasetError(f"{root} is not a prepared RobotPKU folder. {PREPARED_ONLY}"
                               ) from error

    def build(self, size: tuple[int, int]) -> PairedFrames:
        """The prepared crops at ``size`` (h, w)."""
        root = self.root()
        self.layout(root)
        return self.build_prepared(root, tuple(size))
