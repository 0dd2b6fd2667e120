"""The settings of pie's SLURM launcher: submitit_slurm's plus runs_per_task, registered as
hydra/launcher=submitit_slurm_packed (conf/hydra/launcher/slurm.yaml builds on it). No
`from __future__ import annotations` here: Hydra scans this module without registering it, and
dataclasses then cannot resolve string annotations."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclass
class PackedSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.pie_launcher.packed_launcher.PackedSlurmLauncher"
    runs_per_task: int = 1  # runs trained at once by one array task


ConfigStore.instance().store(group="hydra/launcher", name="submitit_slurm_packed", node=PackedSlurmQueueConf,
                             provider="pie_launcher")
