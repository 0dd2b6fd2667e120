"""Shared set-up for the command-line entry points."""

import logging
import os
import warnings


def quiet_libraries() -> None:
    """Offline by default, and no library chatter that hides pie's own progress lines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import lightning  # noqa: F401  (its import sets its loggers to INFO; lower them afterwards)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
    warnings.filterwarnings("ignore", category=FutureWarning)
