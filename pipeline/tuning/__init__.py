"""The ``tune`` stage: Ray Tune sweeps over the training loop (space, trials, schedulers, outputs)."""
