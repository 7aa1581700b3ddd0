"""Handcrafted methods: features (WHOS, LOMO, Eigen-depth, pixels) times cross-view metrics."""
