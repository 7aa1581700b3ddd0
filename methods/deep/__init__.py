"""Deep networks and their training: backbones, networks, inputs, engine, losses, samplers."""
