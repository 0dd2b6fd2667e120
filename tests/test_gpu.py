"""pie on a CUDA device (trainer=gpu; scripts/gpu-check.sh runs these and prints a summary): dense
and IMP-FT runs of the BiLSTM and the MiniLM BERT train a few steps, pruned weights stay exactly
zero, a run killed mid-training resumes bit-identical under deterministic algorithms, CUDA logits
match the same weights' CPU logits within LOGIT_TOLERANCE, and mask selection on device tensors
stays on the device, timed for a bert-base-sized set. Skipped, with the reason, without CUDA."""

import json
import statistics
import time

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli
from pie.faults import ENV
from pie.pruning.masks import prune_to_sparsity
from pie.runs.discovery import load_logits
from pie.runs.manifest import Run, read_manifest
from pie.runs.weights import read_final_weights

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU checks need one")]
MODELS = ("bilstm", "bert")
# 64 training examples in batches of 16: 4 optimizer steps an epoch; IMP-FT trains 4 epochs and
# prunes after the first three.
RUN = [*TINY, "model.batch_size=16", "trainer=gpu", "seed=0"]
KILL_AT_STEP = 10  # in IMP-FT's third epoch: the run has an epoch checkpoint and two prunes behind it
# CUDA vs CPU logits of the same weights: float32 on both, but other kernels and summation orders,
# and cuDNN may use TF32 in the LSTM (torch.backends.cudnn.allow_tf32 is on by default).
LOGIT_TOLERANCE = {"rtol": 1e-3, "atol": 1e-3}


def _runs(root, name: str) -> dict[tuple[str, float], Run]:
    """(model, sparsity) -> the sweep's complete run."""
    runs = {}
    for path in (root / "multirun" / name).glob("*/manifest.json"):
        manifest = read_manifest(path.parent)
        assert manifest.complete, f"{path.parent} is not complete"
        runs[(manifest.config["model"]["name"], manifest.sparsity)] = Run(path.parent, manifest)
    return runs


@pytest.fixture(scope="module")
def cuda_runs(tmp_path_factory):
    """One sweep on CUDA: dense and IMP-FT 0.5 of both models, seed 0."""
    root = tmp_path_factory.mktemp("cuda")
    result = run_cli("train.py", "-m", "name=cuda", f"model={','.join(MODELS)}", "pruning=imp_ft", "sparsity=0,0.5", *RUN, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = _runs(root, "cuda")
    assert sorted(runs) == sorted((m, s) for m in MODELS for s in (0.0, 0.5))
    return root, runs


@pytest.mark.parametrize("model", MODELS)
def test_cuda_runs_train_and_pruned_weights_stay_zero(cuda_runs, model, record_property):
    """Both runs trained on the GPU; the IMP-FT run's masked weights are exactly zero after its
    last fine-tuning epoch (Adam would regrow them if the masks were not enforced on the device)."""
    _, runs = cuda_runs
    for sparsity in (0.0, 0.5):
        run = runs[(model, sparsity)]
        assert run.manifest.config["trainer"]["accelerator"] == "gpu"
        assert np.isfinite(load_logits([run], "test_final").logits).all()
    run = runs[(model, 0.5)]
    state, masks = read_final_weights(run)
    assert masks and len(run.manifest.pruning.steps) == 3
    removed = sum(int((~mask).sum()) for mask in masks.values())
    assert removed == sum(round(0.5 * mask.numel()) for mask in masks.values())  # layer-wise, exact
    nonzero = {name: int(state[name][~mask].count_nonzero()) for name, mask in masks.items()}
    assert not any(nonzero.values()), {name: n for name, n in nonzero.items() if n}
    record_property("pruned_weights", removed)


@pytest.mark.parametrize("model", MODELS)
def test_cuda_logits_match_cpu_logits_of_the_same_weights(cuda_runs, model, record_property):
    """Each run's final weights restored on the CPU give its logged (CUDA) test logits within
    LOGIT_TOLERANCE, and the same predicted classes."""
    from pie.restore import restore

    root, runs = cuda_runs
    worst = 0.0
    for sparsity in (0.0, 0.5):
        run = runs[(model, sparsity)]
        parts, _ = restore(run, cache_dir=str(root / "cache"))
        assert next(parts.network.parameters()).device.type == "cpu"
        cpu = parts.module.predict_logits(parts.datamodule.ordered_dataloader("test"))
        cuda = load_logits([run], "test_final").logits[0]
        np.testing.assert_allclose(cuda, cpu, **LOGIT_TOLERANCE)
        assert np.array_equal(cuda.argmax(1), cpu.argmax(1))
        worst = max(worst, float(np.abs(cuda - cpu).max()))
    record_property("max_abs_logit_difference", f"{worst:.3g}")


@pytest.mark.parametrize("model", MODELS)
def test_a_killed_cuda_run_resumes_bit_identical(cuda_runs, model, record_property):
    """IMP-FT killed (SIGKILL) at optimizer step KILL_AT_STEP, then rerun: it resumes from its
    epoch checkpoint (masks and pruning history included) and ends with the uninterrupted run's
    logits and final weights, bit for bit (trainer.deterministic: torch's deterministic algorithms)."""
    root, runs = cuda_runs
    overrides = ["name=resumed", f"model={model}", "pruning=imp_ft", "sparsity=0.5", *RUN]
    killed = run_cli("train.py", "-m", *overrides, cwd=root, env={ENV: f"train_batch@{KILL_AT_STEP}"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    (run_dir,) = (root / "multirun" / "resumed").glob(f"*model={model}*")
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    resumed = run_cli("train.py", "-m", *overrides, cwd=root, env={ENV: ""})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    first, second = manifest["attempts"]
    assert manifest["status"] == "complete" and first["resumed_from"] is None and second["resumed_from"]["epochs_done"] >= 2
    reference = runs[(model, 0.5)]
    assert manifest["weights"]["final"]["sha256"] == reference.manifest.weights.final.sha256
    again = Run(run_dir, read_manifest(run_dir))
    for name in reference.manifest.predictions:
        assert np.array_equal(load_logits([again], name).logits, load_logits([reference], name).logits), name
    record_property("resumed_after_epochs", second["resumed_from"]["epochs_done"])


def _bert_base_scores(device: str) -> dict[str, torch.Tensor]:
    """Scores shaped like bert-base's prunable set (pie.pruning.selection.reference: 97 tensors,
    85,542,912 weights): random, except the LayerNorm weights, all equal as at initialisation
    (ties, broken by position)."""
    generator = torch.Generator(device=device).manual_seed(0)
    shapes = {}
    for layer in range(12):
        for part in ("query", "key", "value", "output"):
            shapes[f"layer{layer}.{part}"] = (768, 768)
        shapes[f"layer{layer}.intermediate"], shapes[f"layer{layer}.ffn_output"] = (3072, 768), (768, 3072)
        shapes[f"layer{layer}.attention_norm"], shapes[f"layer{layer}.output_norm"] = (768,), (768,)
    shapes["pooler"] = (768, 768)
    return {name: torch.ones(shape, device=device) if len(shape) == 1 else torch.rand(shape, device=device, generator=generator)
            for name, shape in shapes.items()}


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_mask_selection_stays_on_the_device(scope, monkeypatch, record_property):
    """prune_to_sparsity on CUDA scores and masks (bert-base-sized, to 0.9) returns CUDA masks
    without any copy to NumPy, equal to the CPU path's masks; its time is the median of 5 runs
    after a warm-up."""
    scores = _bert_base_scores("cuda")
    assert sum(s.numel() for s in scores.values()) == 85_542_912 and len(scores) == 97
    masks = {name: torch.ones_like(s, dtype=torch.bool) for name, s in scores.items()}
    expected = prune_to_sparsity({n: s.cpu() for n, s in scores.items()}, {n: m.cpu() for n, m in masks.items()}, 0.9, scope)

    def no_numpy(tensor, *args, **kwargs):
        raise AssertionError(f"mask selection copied a {tensor.device} tensor to NumPy")

    monkeypatch.setattr(torch.Tensor, "numpy", no_numpy)
    seconds = []
    for _ in range(6):
        torch.cuda.synchronize()
        started = time.perf_counter()
        new = prune_to_sparsity(scores, masks, 0.9, scope)
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    monkeypatch.undo()
    assert all(m.device.type == "cuda" for m in new.values())
    assert all(torch.equal(new[name].cpu(), expected[name]) for name in scores)
    record_property("mask_selection_s", f"{statistics.median(seconds[1:]):.4f}")
