"""loss -> backward -> optimizer -> checkpoint: optimizers, schedules, the trainer and checkpoints."""
