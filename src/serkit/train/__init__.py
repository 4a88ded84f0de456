"""Training: losses, checkpoints, the fit loop."""
