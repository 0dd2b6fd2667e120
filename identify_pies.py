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
    parser.add_argument("--pie-set", default="modal", choices=["modal", "robust"],
                        help="the PIEs that A3, A4, A6 and A7 study: modal (the paper's) or robust (a PIE in at least "
                             "--robust-level of the seed draws)")
    parser.add_argument("--robust-level", type=float, default=0.9, help="confidence of a robust PIE (default 0.9)")
    parser.add_argument("--noise-draws", type=int, default=200,
                        help="repeated draws of disjoint sub-populations for the seed-noise null and the confidence (default 200)")
    parser.add_argument("--degenerate-share", type=float, default=0.99,
                        help="a model that gives one decision to this share of the test examples is degenerate (default 0.99)")
    parser.add_argument("--exclude-degenerate", action="store_true",
                        help="leave degenerate models out before the populations form (listed like --skip-bad)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that analyse population pairs (default: the CPUs this process may use); any count "
                             "gives the same numbers")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute every pair's analyses instead of reusing those cached under PIE_CACHE_DIR for "
                             "identical inputs (derived per-run arrays are cached either way)")
    parser.add_argument("--wandb", action="store_true", help="also log tables and plots to a W&B run (offline unless WANDB_MODE says otherwise)")
    return parser.parse_args(argv)


def default_out(sweep: str) -> Path:
    """results/<the first sweep's name>; a glob's wildcards are not part of a folder name."""
    name = Path(sweep.rstrip("/")).name
    if glob.has_magic(name):
        name = "".join(c for c in name if c not in "*?[]").strip("-_.") or "pies"
    return Path("results") / name


def writable(folder: Path, what: str = "the output folder", fix: str = "pass --out <a writable folder>") -> None:
    """A folder identify_pies writes (the output, the cache) can be written or made, checked before
    any analysis runs."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        fail("identify_pies.py", f"cannot write {what} {folder}: {existing} is not a writable directory; {fix}")


def main(argv=None) -> int:
    args = parse_args(argv)
    offline_defaults()
    # One BLAS thread: the analyses' matrix products are exact integer sums (any thread count gives
    # the same numbers), and pie runs its own threads; several BLAS threads per product oversubscribe
    # the cores and are many times slower on a busy machine. Set before NumPy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    quiet_libraries(lightning=False)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    from pie.analysis.options import AnalysisOptions
    from pie.identify import identify
    from pie.memo import cache_folder
    from pie.parallel import available_cpus

    out = Path(args.out) if args.out else default_out(args.sweeps[0])
    writable(out)
    writable(cache_folder(), "the cache folder", "set PIE_CACHE_DIR to a writable folder")
    if args.workers is not None and args.workers < 1:
        fail("identify_pies.py", f"--workers must be at least 1, got {args.workers}; pass --workers 1 to analyse in this process")
    options = AnalysisOptions(tie=args.tie, n_boot=args.bootstrap, pie_set=args.pie_set, robust_level=args.robust_level,
                              noise_repeats=args.noise_draws, degenerate_share=args.degenerate_share, conventions=args.conventions)
    try:
        result = identify(args.sweeps, out, min_seeds=args.min_seeds, split=args.split, seed=args.seed,
                          with_texts=not args.no_texts, wandb=args.wandb, skip_bad=args.skip_bad,
                          exclude_degenerate=args.exclude_degenerate, options=options,
                          workers=args.workers or available_cpus(), cache=not args.no_cache)
    except UserError as error:
        fail("identify_pies.py", str(error))
    print(result.paths["summary_md"].read_text())
    flags = [flag for flag, given in (("--skip-bad", args.skip_bad), ("--exclude-degenerate", args.exclude_degenerate)) if given]
    if flags:
        excluded = len({b.run for b in result.excluded_runs})
        print(f"excluded runs ({', '.join(flags)}): {excluded}, listed in {result.paths['excluded_runs_csv']}")
    print(f"report: {result.paths['report']}")
    print(f"tables and plots: {out}/ ({len(result.tables)} tables, {sum(1 for p in result.paths.values() if p.suffix == '.png')} plots)")
    return 0


if __name__ == "__main__":
    with interrupts("identify_pies.py"):
        sys.exit(main())
