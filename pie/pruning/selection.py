"""Which parameters are prunable: explicit include/exclude patterns, or the reference code's rule.

Both return an ordered {qualified parameter name: Parameter} for a network.
"""

from __future__ import annotations

import re
from typing import Sequence

from torch import nn


def by_patterns(
    network: nn.Module, include: Sequence[str], exclude: Sequence[str] = ()
) -> dict[str, nn.Parameter]:
    """Parameters whose name matches any include regex and no exclude regex (re.search)."""
    include_re = [re.compile(p) for p in include]
    exclude_re = [re.compile(p) for p in exclude]
    selected = {
        name: param
        for name, param in network.named_parameters()
        if any(r.search(name) for r in include_re) and not any(r.search(name) for r in exclude_re)
    }
    if not selected:
        names = ", ".join(n for n, _ in network.named_parameters())
        raise ValueError(
            f"pruning.selection matched no parameter (include={list(include)}, "
            f"exclude={list(exclude)}); the network has: {names}"
        )
    return selected


def reference(network: nn.Module) -> dict[str, nn.Parameter]:
    """The reference code's set (pruning/tools.py retrieve_tuples), reproduced exactly.

    Walk leaf modules, skip any module whose class name contains "embedding" (and its children),
    keep every parameter whose name contains "weight", then drop the last one (the classifier).
    For BERT this prunes the encoder LayerNorm weights and the pooler; not embeddings, biases or
    the classifier.
    """
    selected: list[tuple[str, nn.Parameter]] = []

    def walk(module: nn.Module, prefix: str) -> None:
        if "embedding" in type(module).__name__.lower():
            return
        children = list(module.named_children())
        if not children:
            for name, param in module.named_parameters(recurse=False):
                if "weight" in name:
                    selected.append((f"{prefix}{name}", param))
        for child_name, child in children:
            walk(child, f"{prefix}{child_name}.")

    walk(network, "")
    return dict(selected[:-1])
