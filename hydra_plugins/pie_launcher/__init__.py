"""pie's SLURM launcher, in the hydra_plugins namespace where Hydra requires its plugins to live."""
