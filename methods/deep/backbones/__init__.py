"""Backbone trunks by architecture name: the interface, torchvision ResNets, EfficientNet-Lite0."""
