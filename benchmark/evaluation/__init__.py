"""Evaluation: identity folds, the protocols, per-query outcomes, intervals and paired tests."""
