"""The speed helpers measure what they are given."""

import time

import numpy as np
import pytest

from benchmark.speed import images_per_second


def test_images_per_second_reflects_the_cost_per_batch():
    images = np.zeros((50, 4, 4, 3), dtype=np.uint8)

    def slow(batch):
        time.sleep(0.002 * len(batch))

    rate = images_per_second(slow, images, repeats=2)
    assert rate == pytest.approx(500, rel=0.4)
