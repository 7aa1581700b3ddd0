"""Data sets: each reads its source into paired RGB/depth frames and identity folds."""
