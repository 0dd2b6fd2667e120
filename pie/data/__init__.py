"""Datasets: sources (packaged, hub, local files) -> one schema (id, text, label), deterministic
splits, fingerprints, cached tokenisation and the LightningDataModule."""

__all__ = ["TextClassificationData", "prepare"]


def __getattr__(name: str):
    """`pie.data.prepare` (the configs' `_target_`) and `TextClassificationData`, imported on first
    use: the `datasets` library they need takes a second to import, and identify_pies reads
    texts from its cache without it."""
    if name in __all__:
        from pie.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'pie.data' has no attribute {name!r}")
