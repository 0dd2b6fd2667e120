"""Are two versions' outputs the same, byte for byte? For refactors and speed work, which must
change no result.

    python scripts/compare_results.py BEFORE AFTER [--path results/demo --path multirun/demo ...]

BEFORE and AFTER are roots holding the same layout (e.g. a copy of the repository's `results/` and
`multirun/` taken before the change, and the repository after rerunning `make demo`). Every table
(.csv, .parquet: summary, analyses, pies.parquet) and every prediction file under the given paths
must exist on both sides with identical bytes; plots (.png) and report.html only have to exist,
since they hold timestamps and renderer metadata. Prints one line per difference and a count per
kind; exit code 0 when identical, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

COMPARED = (".csv", ".parquet")  # byte for byte
PRESENT = (".png", ".html")  # must exist on both sides
DEFAULT_PATHS = ("results/demo", "multirun/demo", "results/demo_multilabel", "multirun/demo_multilabel")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Relative path -> file, for the files with these suffixes under root (Hydra's own folders skipped)."""
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in suffixes and ".hydra" not in p.parts and "wandb" not in p.parts}


def compare(before: Path, after: Path) -> tuple[dict[str, int], list[str]]:
    """(counts of identical / different / missing files, one line per problem) for one path."""
    counts = {"identical": 0, "different": 0, "missing": 0}
    problems = []
    old, new = _files(before, COMPARED), _files(after, COMPARED)
    for name in sorted(old.keys() | new.keys()):
        if name not in new or name not in old:
            counts["missing"] += 1
            problems.append(f"only in {'before' if name in old else 'after'}: {name}")
        elif _digest(old[name]) == _digest(new[name]):
            counts["identical"] += 1
        else:
            counts["different"] += 1
            problems.append(f"differs: {name}")
    old_present, new_present = _files(before, PRESENT), _files(after, PRESENT)
    for name in sorted(old_present.keys() ^ new_present.keys()):
        counts["missing"] += 1
        problems.append(f"only in {'before' if name in old_present else 'after'}: {name}")
    return counts, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="root of the outputs before the change")
    parser.add_argument("after", type=Path, help="root of the outputs after the change")
    parser.add_argument("--path", action="append", dest="paths",
                        help=f"a folder under both roots to compare (repeatable; default {', '.join(DEFAULT_PATHS)})")
    args = parser.parse_args(argv)
    paths = args.paths or list(DEFAULT_PATHS)
    missing = [str(root / p) for root in (args.before, args.after) for p in paths if not (root / p).is_dir()]
    if missing:
        print(f"compare_results.py: error: no such folder: {', '.join(missing)}; run the demos on both sides first "
              "(make demo, make demo-multilabel) or name other folders with --path", file=sys.stderr)
        return 2
    same = True
    print("| folder | identical | different | missing |\n|---|---|---|---|")
    lines = []
    for path in paths:
        counts, problems = compare(args.before / path, args.after / path)
        print(f"| {path} | {counts['identical']} | {counts['different']} | {counts['missing']} |")
        lines += [f"{path}: {p}" for p in problems]
        same &= not problems
    print("\n".join(lines) if lines else "\nevery table and prediction file is byte-identical")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
