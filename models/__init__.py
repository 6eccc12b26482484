"""The GAN mathematics: networks, loss variants, regularisers and the training step.

Pure PyTorch: nothing here knows about Ray, MLflow, DVC or the file layout.
"""
