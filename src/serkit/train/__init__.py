"""Training: losses, the training loop, checkpoints, self-supervised pretraining."""
