"""Find the PIEs of whole sweeps:  python identify_pies.py multirun/demo [more dirs or globs]"""

import argparse
import glob
import logging
import os
import sys
from pathlib import Path

from pie.entry import fail, interrupts, offline_defaults, quiet_libraries
from pie.errors import UserError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweeps", nargs="+", help="sweep directories or globs holding runs (manifest.json)")
    parser.add_argument("--out", help="output directory (default: results/<name of the first sweep>)")
    parser.add_argument("--min-seeds", type=int, default=5, help="refuse populations with fewer seeds (default 5)")
    parser.add_argument("--tie", default="lowest", choices=["lowest", "highest", "pie", "exclude"],
                        help="modal-label ties: lowest class (reference), highest (Hooker et al.), count as PIE, or exclude")
    parser.add_argument("--conventions", default="pie", choices=["pie", "reference"],
                        help="analysis conventions: pie's, or the reference code's (multi-label decision sigmoid > τ, subset "
                             "macro-F1 scoring absent classes 0, mean of per-class loss ratios, its A5 error bars); see README")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="split to compare (default test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and subsampling RNG (default 0)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap repeats for intervals (default 200)")
    parser.add_argument("--no-texts", action="store_true", help="skip the analyses that need the dataset's texts (A6, A7)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="exclude runs whose prediction files fail their manifest checks (listed in excluded_runs.csv "
                             "and report.html) instead of refusing")
    parser.add_argument("--wandb", action="store_true", help="also log tables and plots to a W&B run (offline unless WANDB_MODE says otherwise)")
    return parser.parse_args(argv)


def default_out(sweep: str) -> Path:
    """results/<the first sweep's name>; a glob's wildcards are not part of a folder name."""
    name = Path(sweep.rstrip("/")).name
    if glob.has_magic(name):
        name = "".join(c for c in name if c not in "*?[]").strip("-_.") or "pies"
    return Path("results") / name


def writable(out: Path) -> None:
    """The output folder can be written, checked before any analysis runs."""
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        fail("identify_pies.py", f"cannot write the output folder {out}: {existing} is not a writable directory; pass --out <a writable folder>")


def main(argv=None) -> int:
    args = parse_args(argv)
    offline_defaults()
    quiet_libraries()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    from pie.identify import identify

    out = Path(args.out) if args.out else default_out(args.sweeps[0])
    writable(out)
    try:
        result = identify(args.sweeps, out, min_seeds=args.min_seeds, tie=args.tie, split=args.split, seed=args.seed,
                          n_boot=args.bootstrap, with_texts=not args.no_texts, wandb=args.wandb, skip_bad=args.skip_bad,
                          conventions=args.conventions)
    except UserError as error:
        fail("identify_pies.py", str(error))
    print(result.paths["summary_md"].read_text())
    if args.skip_bad:
        excluded = len({b.run for b in result.excluded_runs})
        print(f"excluded runs (--skip-bad): {excluded}, listed in {result.paths['excluded_runs_csv']}")
    print(f"report: {result.paths['report']}")
    print(f"tables and plots: {out}/ ({len(result.tables)} tables, {sum(1 for p in result.paths.values() if p.suffix == '.png')} plots)")
    return 0


if __name__ == "__main__":
    with interrupts("identify_pies.py"):
        sys.exit(main())
