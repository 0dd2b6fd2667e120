"""Every config group composes, and names resolve to the intended implementations."""

import pytest
from hydra.errors import MissingConfigException
from hydra.utils import get_object

from conftest import compose_train

DATASETS = ["rotten_tomatoes", "imdb", "bbc_news"]
MODELS = ["bilstm", "bert"]
PRUNING = ["none", "imp_ft", "mp_ai"]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_dataset_model_grid_composes(dataset, model, tmp_path):
    """Each dataset x model composes with its hyper-parameters and importable targets."""
    cfg = compose_train([f"dataset={dataset}", f"model={model}"], tmp_path)
    assert cfg.dataset.name == dataset and cfg.model.name == model
    assert cfg.model.epochs >= 1 and cfg.model.optimizer.lr > 0
    for target in (cfg.dataset._target_, cfg.dataset.source._target_, cfg.model.network._target_, cfg.model.tokenizer._target_):
        assert callable(get_object(target))


def test_paper_hparams_are_selected_per_dataset_and_model(tmp_path):
    """imdb x bilstm picks the paper's E=26, lr=1.477e-3, batch 1024."""
    cfg = compose_train(["dataset=imdb", "model=bilstm"], tmp_path)
    assert (cfg.model.epochs, cfg.model.optimizer.lr, cfg.model.batch_size) == (26, 1.477e-3, 1024)


@pytest.mark.parametrize("pruning", PRUNING)
def test_pruning_presets_build_schedules(pruning, tmp_path):
    """Each pruning preset instantiates a schedule; dense has no steps, the others end at s."""
    from hydra.utils import instantiate

    sparsity = 0.0 if pruning == "none" else 0.9
    cfg = compose_train([f"pruning={pruning}", f"sparsity={sparsity}", "model.epochs=2"], tmp_path)
    schedule = instantiate(cfg.pruning.schedule)
    assert schedule.final_sparsity == pytest.approx(sparsity)
    assert schedule.max_epochs == {"none": 2, "imp_ft": 8, "mp_ai": 2}[pruning]


def test_demo_experiment_composes(tmp_path):
    """The demo experiment selects the BiLSTM on Rotten Tomatoes with MP-AI."""
    cfg = compose_train(["experiment=demo"], tmp_path)
    assert (cfg.name, cfg.dataset.name, cfg.model.name, cfg.pruning.name) == ("demo", "rotten_tomatoes", "bilstm", "mp_ai")


@pytest.mark.parametrize("override", ["dataset=nope", "model=gpt9", "pruning=snip_magic"])
def test_unknown_names_are_refused_with_the_options(override, tmp_path):
    """An unknown group option fails at composition, naming the group and the available options."""
    with pytest.raises(MissingConfigException) as error:
        compose_train([override], tmp_path)
    group = override.split("=")[0]
    assert group in str(error.value) and "Available options" in str(error.value)
