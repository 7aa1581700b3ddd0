"""One interface for every metric that compares features of two views, in scikit-learn's
style, and the metrics registry.

A cross-view metric learns from labelled features of two views, ``a`` and ``b`` (a
handcrafted method passes RGB as view ``a`` and depth as view ``b``), maps features of
either view into the space it compares in, and compares there::

    metric = Xqda(options, seed=seed).fit(X_a, X_b, y_a, y_b)
    distances = metric.distance(metric.transform(Q, "b"), metric.transform(G, "a"))

A metric that needs *paired* rows (``paired = True``: CCA and LSSCDL learn from
correspondences, not from labels) receives ``X_a[i]`` and ``X_b[i]`` of the same time
step (the same frame's two modalities), so ``y_a == y_b``. Built-in metrics register
themselves with ``@register_metric("name")``; a plugin declares an entry point in the group
``rgbd_bench.metrics`` (see :mod:`methods.core.registry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from methods.core.distance import euclidean_distance
from methods.core.named_registry import Registry
from methods.core.options import NoOptions
from methods.handcrafted.features import load_methods

VIEWS = ("a", "b")


class NotFittedError(ValueError, AttributeError):
    """A fitted attribute was needed before ``fit`` was called."""


@dataclass(frozen=True)
class PairedViews:
    """Row-paired features of the two views (row ``i`` of ``a`` and of ``b`` is one time
    step) and their labels: the validation identities a metric may select settings on."""

    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray


def cap_frames(pids: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices keeping at most ``cap`` random rows of every identity."""
    pids = np.asarray(pids)
    if cap is None:
        return np.arange(len(pids))
    chosen = []
    for pid in np.unique(pids):
        rows = np.flatnonzero(pids == pid)
        chosen.append(rng.choice(rows, cap, replace=False) if len(rows) > cap else rows)
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


class CrossViewMetric(ABC):
    """Learns how to compare features of view ``a`` with features of view ``b``.

    ``__init__`` stores the options and the seed and does no work; ``fit`` learns
    attributes ending in ``_`` and returns ``self``; ``transform`` and ``distance`` before
    ``fit`` raise :class:`NotFittedError` (unless the metric learns nothing).

    Class attributes a metric sets:
        name: filled in by :func:`register_metric`.
        summary: a few words, the end of its methods' one-line summaries.
        Options: a frozen dataclass of its options (every field with a default).
        learns: ``False`` for a fixed metric: ``fit`` is never called.
        paired: ``fit`` needs row-paired views (see the module docstring).
        links_spaces: it learns one map per view, so the two views' features may differ
            in kind and dimension (a feature whose modalities are described differently
            pairs only with such a metric).
        uses_validation: ``fit`` selects settings on the validation identities (its
            ``validation`` argument); otherwise it receives ``None``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    learns: ClassVar[bool] = True
    paired: ClassVar[bool] = False
    links_spaces: ClassVar[bool] = False
    uses_validation: ClassVar[bool] = False

    def __init__(self, options: Any = None, seed: int = 0) -> None:
        self.options = self.Options() if options is None else options
        self.seed = seed

    @property
    def frames_per_identity(self) -> int | None:
        """At most this many training frames of each identity fit the metric (drawn at
        random with the seed); ``None``: all."""
        return None

    def training_rows(self, pids: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the training frames whose view-``a`` and view-``b`` features ``fit``
        receives: drawn independently per view, or the same rows when :attr:`paired`."""
        rows_a = cap_frames(pids, self.frames_per_identity, rng)
        if self.paired:
            return rows_a, rows_a
        return rows_a, cap_frames(pids, self.frames_per_identity, rng)

    def fit(self, X_a: np.ndarray, X_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
            validation: PairedViews | None = None) -> CrossViewMetric:
        """Learn from (n, d_a) features ``X_a`` and (m, d_b) features ``X_b`` of the two
        views with identity labels ``y_a`` (n,) and ``y_b`` (m,); returns ``self``."""
        return self

    def fitted(self, attribute: str) -> Any:
        """The learned attribute ``attribute``; :class:`NotFittedError` before ``fit``."""
        try:
            return getattr(self, attribute)
        except AttributeError:
            raise NotFittedError(f"this {type(self).__name__} metric is not fitted yet; "
                                 f"call fit() first") from None

    @abstractmethod
    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        """(n, d) features of ``view`` (``"a"`` or ``"b"``) -> (n, r) in the compared space."""

    @abstractmethod
    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        """(n_q, n_g) distances between transformed queries ``Q`` and gallery ``G``."""


METRICS: Registry[type[CrossViewMetric]] = Registry("metric", None, base=CrossViewMetric,
                                                    before_lookup=load_methods, by_name=True)
register_metric = METRICS.register
available_metrics = METRICS.items
get_metric = METRICS.get


def check_view(view: str) -> str:
    """``view`` if it is one of :data:`VIEWS`; else a ValueError naming it."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    return view


@register_metric("euclidean")
class Euclidean(CrossViewMetric):
    """Euclidean distance between the features as they are; learns nothing."""

    summary = "Euclidean distance"
    learns = False

    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        check_view(view)
        return X

    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        return euclidean_distance(Q, G)
