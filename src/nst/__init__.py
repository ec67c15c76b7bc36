"""nst: optimisation-based neural style transfer (Gatys et al.) on PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
