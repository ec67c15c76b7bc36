"""nst: optimisation-based neural style transfer (Gatys et al.) on PyTorch Lightning and Hydra.

``from nst import stylize`` is the Python API (:func:`nst.api.stylize`); bad input raises
:class:`NSTError`. Importing the package stays light: torch loads when ``stylize`` is first used.
"""

from typing import Any

from nst.errors import NSTError

__version__ = "0.1.0"
__all__ = ["NSTError", "stylize"]


def __getattr__(name: str) -> Any:
    if name == "stylize":
        from nst.api import stylize

        return stylize
    raise AttributeError(f"module 'nst' has no attribute {name!r}")
