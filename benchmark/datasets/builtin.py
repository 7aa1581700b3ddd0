"""Imports the built-in data set modules so that they register themselves."""

import benchmark.datasets.biwi  # noqa: F401
import benchmark.datasets.manifest  # noqa: F401
import benchmark.datasets.robotpku  # noqa: F401
import benchmark.datasets.synthetic  # noqa: F401
import benchmark.datasets.tvrid  # noqa: F401
