"""The lines a run prints for its user (notes, warnings, resumes, stops), also kept with times in
the run folder's cli.log (Hydra's file handler on the ``nst.file`` logger, conf/hydra/default.yaml)."""

from __future__ import annotations

import logging
import sys


def say(line: str, *, stderr: bool = True) -> None:
    print(line, file=sys.stderr if stderr else sys.stdout, flush=True)
    logging.getLogger("nst.file").info(line)
