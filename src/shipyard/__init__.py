"""Shipyard: a SageMaker-compatible machine-learning platform on your own hardware."""

__version__ = "0.1.0"
