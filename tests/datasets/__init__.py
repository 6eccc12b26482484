"""Datasets that only tests register: proof that a new dataset is one module and nothing else."""
