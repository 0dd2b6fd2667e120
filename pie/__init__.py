"""pie: find the examples that pruning hurts most (pruning identified exemplars, PIEs)."""

__version__ = "0.1.0"
