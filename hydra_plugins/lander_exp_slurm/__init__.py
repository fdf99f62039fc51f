"""Hydra instantiates launchers only from classes defined in the hydra_plugins package: this is
where conf/hydra/launcher/slurm.yaml's launcher is registered; its code is lander_exp.run.slurm."""

from lander_exp.run import slurm


class SlurmLauncher(slurm.SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher that requeues a job once its run has checkpointed."""
