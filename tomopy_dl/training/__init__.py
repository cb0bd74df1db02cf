"""Training of the networks that ship with tomopy-dl, and the synthetic data they learn from."""

from .jitter import JitterTrainingConfig, make_jitter_pairs, train_jitter, validate_jitter

__all__ = ["JitterTrainingConfig", "make_jitter_pairs", "train_jitter", "validate_jitter"]
