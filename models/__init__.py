"""The GAN mathematics: networks, losses, regularisers, EMA, mixed precision, the training step, and the
families (:mod:`models.family`, :mod:`models.families`). Pure PyTorch: no Ray, no MLflow, no files."""
