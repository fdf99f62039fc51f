"""The learning: networks, return targets, one module per algorithm, and the Protocol through which
an algorithm meets the training loop. Imports envs and config only; knows nothing of runs or W&B."""
