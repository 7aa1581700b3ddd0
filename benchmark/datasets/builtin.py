"""Imports the built-in data set modules so that they register themselves."""

import importlib

BUILTIN_DATASET_MODULES = (
    "benchmark.datasets.synthetic",
    "benchmark.datasets.biwi",
    "benchmark.datasets.robotpku",
)

for _module in BUILTIN_DATASET_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as _error:
        if _error.name != _module:
            raise
