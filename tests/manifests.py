"""Hand-made run manifests for tests of the run store and populations (no training)."""

from __future__ import annotations

from pie.runs.manifest import COMPLETE, DENSE, DatasetInfo, Keys, Manifest, ModelInfo, PruningInfo


def make_manifest(seed: int = 0, status: str = COMPLETE, method: str = "imp", target: float = 0.9, dataset: str = "rt",
                  fingerprint: str = "fp-1", model: str = "bilstm", model_key: str = "mk-1", predictions=None,
                  multi_label: bool = False, metrics=None, threshold=None) -> Manifest:
    """A manifest of a run of `method` ("dense" for a dense run) at `target` sparsity; its config
    differs by every argument, so distinct runs have distinct run keys."""
    dense = method == DENSE
    target = 0.0 if dense else target
    config = {"seed": seed, "sparsity": target, "dataset": {"name": dataset, "fingerprint": fingerprint},
              "model": {"name": model, "key": model_key}, "pruning": {"name": method, "scope": "layerwise"}}
    return Manifest(
        status=status, seed=seed, keys=Keys(run=f"{method}-{target}-{seed}", model=model_key, pruning=DENSE if dense else f"{method}-key"),
        config=config, versions={}, dataset=DatasetInfo(dataset, fingerprint, multi_label=multi_label), model=ModelInfo(model),
        pruning=PruningInfo(method=method, name=method, scope="layerwise", target=target), predictions=predictions or {},
        metrics=metrics, threshold=threshold,
    )
