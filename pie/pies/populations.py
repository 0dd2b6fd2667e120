"""Group runs into populations and pair each pruned population with its dense population.

A population = all seeds of one (dataset, model setup, pruning method, sparsity). Works on run
manifests only (no file access), so it is testable with hand-written dictionaries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol, Sequence


class RunLike(Protocol):
    directory: object
    manifest: dict


class PopulationError(ValueError):
    """Runs that cannot form a valid population, with the reason and the runs involved."""


@dataclass(frozen=True, order=True)
class PopulationKey:
    dataset: str
    model: str
    model_key: str
    method: str
    pruning_key: str
    sparsity: float

    @property
    def is_dense(self) -> bool:
        return self.pruning_key == "dense"

    @property
    def dense_key(self) -> "PopulationKey":
        return PopulationKey(self.dataset, self.model, self.model_key, "dense", "dense", 0.0)

    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.method}@{self.sparsity:g}"


def population_key(manifest: dict) -> PopulationKey:
    return PopulationKey(
        dataset=manifest["dataset"]["name"],
        model=manifest["model"]["name"],
        model_key=manifest["keys"]["model"],
        method=manifest["pruning"]["method"],
        pruning_key=manifest["keys"]["pruning"],
        sparsity=round(float(manifest["pruning"]["target"]), 6),
    )


def group_populations(runs: Sequence[RunLike], min_seeds: int) -> dict[PopulationKey, list[RunLike]]:
    """Populations keyed by PopulationKey; refuses mixed datasets, duplicate seeds, small ones."""
    groups: dict[PopulationKey, list[RunLike]] = defaultdict(list)
    for run in runs:
        groups[population_key(run.manifest)].append(run)
    for key, members in groups.items():
        fingerprints = {m.manifest["dataset"]["fingerprint"] for m in members}
        if len(fingerprints) > 1:
            listing = "; ".join(f"{m.directory} -> {m.manifest['dataset']['fingerprint']}" for m in members)
            raise PopulationError(
                f"population {key.label()} mixes dataset fingerprints {sorted(fingerprints)} "
                f"(different splits, subsamples or data): {listing}"
            )
        seeds = [int(m.manifest["seed"]) for m in members]
        duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
        if duplicates:
            listing = "; ".join(str(m.directory) for m in members if int(m.manifest["seed"]) in duplicates)
            raise PopulationError(
                f"population {key.label()} has seed(s) {duplicates} more than once: {listing}. "
                "Pass only one sweep per population."
            )
        if len(members) < min_seeds:
            raise PopulationError(
                f"population {key.label()} has {len(members)} seed(s), fewer than min_seeds="
                f"{min_seeds}; run more seeds or lower --min-seeds"
            )
    return dict(sorted(groups.items()))


def pair_with_dense(populations: dict[PopulationKey, list]) -> list[tuple[PopulationKey, PopulationKey]]:
    """(dense key, pruned key) for every pruned population; refuses a pruned one without dense."""
    pairs = []
    for key, members in populations.items():
        if key.is_dense:
            continue
        dense = key.dense_key
        if dense not in populations:
            raise PopulationError(
                f"pruned population {key.label()} has no dense population with the same dataset "
                f"and model setup (model key {key.model_key}); pass the dense sweep too"
            )
        dense_fp = populations[dense][0].manifest["dataset"]["fingerprint"]
        pruned_fp = members[0].manifest["dataset"]["fingerprint"]
        if dense_fp != pruned_fp:
            raise PopulationError(
                f"pruned population {key.label()} (dataset fingerprint {pruned_fp}) and its dense "
                f"population (fingerprint {dense_fp}) saw different data"
            )
        pairs.append((dense, key))
    return pairs
