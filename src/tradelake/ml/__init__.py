"""Chart-screenshot pattern recognition: synthetic data, CNN, training, registry, similarity."""
