"""The inference engine: preprocessing, networks, prediction, training and phantoms (no Django)."""
