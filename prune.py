"""Branch pruned runs from trained dense runs (not yet available).

Pruning trained dense runs as branches arrives with the pruning-methods issue. Until then, prune
during training with train.py, e.g.:
    python train.py -m seed='range(0,10)' pruning=imp_ft sparsity=0.5,0.9
"""

import sys

if __name__ == "__main__":
    print(
        "prune.py: not available yet: branching pruned runs from dense runs comes with the pruning "
        "issue. Use train.py's in-training schedules instead, e.g.\n"
        "  python train.py -m seed='range(0,10)' pruning=imp_ft sparsity=0.5,0.9",
        file=sys.stderr,
    )
    sys.exit(2)
