"""The ``train`` stage: jobs, the training loop, checkpoints, the Ray Train driver, stop rules and the exported run."""
