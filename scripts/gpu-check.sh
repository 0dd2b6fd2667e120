#!/usr/bin/env bash
# gpu-check.sh: pie on this machine's CUDA device. Runs the tests marked `gpu` (tests/test_gpu.py:
# dense and IMP-FT runs of the BiLSTM and the MiniLM BERT with trainer=gpu, pruned weights exactly
# zero, bit-identical resume, CUDA vs CPU logits, mask selection on the device and its time for a
# bert-base-sized set; tests/test_nm.py: 2:4 sparse kernels) and prints one line per test with
# what it measured, then a summary line.
#   scripts/gpu-check.sh            (PYTHON=/path/to/python to use another interpreter than .venv's)
# Exit status: 0 all passed; 1 a test failed, or every test was skipped although CUDA is there;
# 2 no interpreter or no CUDA device (nothing was checked).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"

if [[ ! -x "$PYTHON" ]]; then
    echo "gpu-check: no Python at $PYTHON: run make setup, or set PYTHON=/path/to/python" >&2
    exit 2
fi
probe="$("$PYTHON" -c '
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} (built for CUDA {torch.version.cuda}) sees no CUDA device")
print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
' 2>&1)" || { echo "gpu-check: ${probe##*$'\n'}: nothing was checked" >&2; exit 2; }
device="${probe##*$'\n'}"  # the last line: anything before it is import-time noise
echo "gpu-check: $device"

# cuBLAS is deterministic only with a fixed workspace, set before its first use (Lightning sets
# it too, but only in the process that builds a Trainer).
export CUBLAS_WORKSPACE_CONFIG="${CUBLAS_WORKSPACE_CONFIG:-:4096:8}"
report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
started=$SECONDS
status=0
"$PYTHON" -m pytest -m gpu -p no:cacheprovider -q -rfEs -o junit_family=xunit1 --junitxml="$report/gpu.xml" tests || status=$?
elapsed=$((SECONDS - started))

"$PYTHON" - "$report/gpu.xml" "$device" "$elapsed" "$status" <<'EOF' || exit 1
"""One line per test (outcome, seconds, what it recorded), then the totals; exit 1 when nothing ran."""
import sys
import xml.etree.ElementTree as ElementTree

path, device, elapsed, status = sys.argv[1:]
counts = {"passed": 0, "failed": 0, "skipped": 0}
print("\n| test | outcome | s | measured |\n|---|---|---:|---|")
for case in ElementTree.parse(path).iter("testcase"):
    outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else \
        "skipped" if case.find("skipped") is not None else "passed"
    counts[outcome] += 1
    measured = ", ".join(f"{p.get('name')}={p.get('value')}" for p in case.iter("property"))
    print(f"| {case.get('classname').split('.')[-1]}::{case.get('name')} | {outcome} | {float(case.get('time')):.1f} | {measured} |")
print(f"\ngpu-check: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped in {elapsed} s "
      f"on {device} (pytest exit {status})")
sys.exit(1 if counts["passed"] == 0 else 0)
EOF
exit $((status == 0 ? 0 : 1))
