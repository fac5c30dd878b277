"""Recipes for the built-in demos: synthetic data with documented, injected biases and the models trained on it."""
