"""Shared base of every layer: errors, files, options, frames, metrics, identity, registry."""
