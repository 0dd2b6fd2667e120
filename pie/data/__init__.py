"""Datasets: sources (packaged, hub, local files) -> one schema (id, text, label), deterministic
splits, fingerprints, cached tokenisation and the LightningDataModule."""

from pie.data.dataset import TextClassificationData, prepare

__all__ = ["TextClassificationData", "prepare"]
