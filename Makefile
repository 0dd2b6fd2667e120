# make demo  — set up .venv and run the offline demo study (BiLSTM, Rotten Tomatoes, IMP-FT)
# make test  — set up .venv and run the test suite
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

WEKA_DIR := $(or $(PIE_CACHE_DIR),.cache/pie)/weka

.PHONY: help setup demo demo-bert demo-compare demo-recovery demo-multilabel weka-data test test-fast bench bench-aggregation bench-overhead bench-launchers bench-runs-per-task bench-structured gpu-check slurm-up slurm-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	echo "$(TORCH)" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv: torch first (pinned), then pie and its dependencies

demo: setup  ## the offline demo study: 10 seeds x (dense, 0.5, 0.9, 0.99), then identify_pies
	@start=$$(date +%s); \
	$(BIN)/python train.py -m experiment=demo && \
	$(BIN)/python identify_pies.py multirun/demo --min-seeds 10 --out results/demo && \
	echo "demo wall time: $$(( $$(date +%s) - start )) s"

demo-bert: setup  ## the BERT demo: MiniLM on the demo data, 8 seeds x (dense, MP-AI 0.5, 0.9), then identify_pies (~12 min)
	@start=$$(date +%s); \
	$(BIN)/python train.py -m experiment=demo_bert && \
	$(BIN)/python identify_pies.py multirun/demo_bert --min-seeds 8 --out results/demo_bert && \
	echo "BERT demo wall time: $$(( $$(date +%s) - start )) s"

demo-compare: setup  ## the BiLSTM and the BERT demo in one report (run make demo and make demo-bert first)
	$(BIN)/python identify_pies.py multirun/demo multirun/demo_bert --min-seeds 8 --out results/demo_compare

demo-recovery: setup  ## recovery study on the demo: dense + MP-AI 0.9 (10 seeds), train-split PIEs, none / pie_weight / distill for 1 epoch, identify_pies
	@start=$$(date +%s); \
	$(BIN)/python train.py -m experiment=demo name=demo_recovery_source sparsity=0,0.9 && \
	$(BIN)/python identify_pies.py multirun/demo_recovery_source --split train --min-seeds 10 --no-texts --out results/demo_recovery_train && \
	$(BIN)/python recover.py -m hydra/launcher=local name=demo_recovery source=multirun/demo_recovery_source method=mp_ai sparsity=0.9 \
		seed=0..9 recovery=none,pie_weight,distill pies=results/demo_recovery_train/pies.parquet && \
	$(BIN)/python identify_pies.py multirun/demo_recovery_source multirun/demo_recovery --min-seeds 10 --out results/demo_recovery && \
	echo "recovery demo wall time: $$(( $$(date +%s) - start )) s; load $$(cut -d' ' -f1-3 /proc/loadavg)"

weka-data:  ## the Reuters corn/grain ARFF files (multi-label demo data) from Debian's weka package, unpacked, not installed
	@if [ -f $(WEKA_DIR)/usr/share/doc/weka/examples/ReutersCorn-train.arff ]; then echo "weka data in $(WEKA_DIR)"; else \
	  mkdir -p $(WEKA_DIR) && cd $(WEKA_DIR) && apt-get download weka && dpkg-deb -x weka_*.deb . && rm -f weka_*.deb && \
	  echo "weka data in $(WEKA_DIR)"; fi

demo-multilabel: setup weka-data  ## multi-label demo: BiLSTM on Reuters corn/grain, 5 seeds x (dense, MP-AI 0.9), then identify_pies
	@start=$$(date +%s); \
	$(BIN)/python train.py -m experiment=demo_multilabel && \
	$(BIN)/python identify_pies.py multirun/demo_multilabel --min-seeds 5 --out results/demo_multilabel && \
	echo "multi-label demo wall time: $$(( $$(date +%s) - start )) s"

test: setup  ## the full test suite
	$(BIN)/python -m pytest

test-fast: setup  ## unit tests only (no end-to-end runs)
	$(BIN)/python -m pytest -m "not slow"

bench: setup  ## benchmarks (tables on stdout): masks vs the reference algorithm, epochs per study, one-dataset aggregation
	$(BIN)/python benchmarks/bench_masks.py
	$(BIN)/python benchmarks/bench_study_epochs.py
	$(BIN)/python benchmarks/bench_aggregation.py --grid one

bench-aggregation: setup  ## identify_pies on the paper's grid (9,840 synthetic runs): read floor, cold, warm, incremental, scaling (~15 GiB of disk, ~10 min to write on 2 cores)
	$(BIN)/python benchmarks/bench_aggregation.py --grid paper

bench-overhead: setup  ## train.py vs a bare PyTorch loop on one dense demo run: whole-process and in-process ratios, where the extra time goes (~12 min)
	$(BIN)/python benchmarks/bench_overhead.py

bench-launchers: setup  ## local parallelism on the demo sweep: 2 processes x 1 thread vs 1 process x 2 threads (~12 min)
	$(BIN)/python benchmarks/bench_launchers.py

bench-runs-per-task: setup  ## runs per minute on the SLURM cluster, 1 vs 2 runs per array task (make slurm-up first; ~10 min)
	$(BIN)/python benchmarks/bench_runs_per_task.py

bench-structured: setup  ## dense vs unstructured, structured and 2:4 at sparsity 0.5 on the demo data (5 seeds; 18 min on 2 busy cores), identify_pies, then parameters, FLOPs and CPU time per example
	$(BIN)/python train.py -m experiment=demo_structured
	$(BIN)/python identify_pies.py multirun/demo_structured --min-seeds 5 --out results/demo_structured
	$(BIN)/python benchmarks/bench_structured.py --runs multirun/demo_structured --results results/demo_structured

gpu-check: setup  ## the GPU checks on this machine's CUDA device (tests marked gpu), with a summary
	scripts/gpu-check.sh

slurm-up:  ## start a real one-node SLURM cluster here (root; installs slurm, munge, mariadb on first use)
	scripts/slurm/start-local-cluster.sh

slurm-down:  ## stop the daemons slurm-up started; PURGE=1 also wipes job state and accounting
	scripts/slurm/stop-local-cluster.sh $(if $(PURGE),--purge)

clean:  ## remove sweep outputs, results and caches (keeps .venv)
	rm -rf multirun runs results .cache .pytest_cache
