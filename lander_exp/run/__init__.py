"""A run: the Hydra entry point, the loop every algorithm shares, checkpoints, resume, signals, and
tracking (the only code that imports wandb)."""
