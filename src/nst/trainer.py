"""The Lightning side of a run: the Trainer one fit (a scale, or one tile of a tiled scale) runs in,
and Lightning's log lines and warnings that say nothing about a style-transfer run kept quiet.

Shared by the run loop (:mod:`nst.engine`) and the tiled scale (:mod:`nst.tiled`), so that neither
imports the other for it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins.environments import LightningEnvironment

from nst.errors import NSTError
from nst.plan import Plan


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*Checkpoint directory.*",
        ".*TensorBoardLogger.*",
        ".*tensorboardX.*",
        ".*LeafSpec.*",
        r".*module\(s\) in eval mode.*",
        ".*The `srun` command is available.*",  # one run is one process here; SLURM jobs run it as such
    ):
        warnings.filterwarnings("ignore", message=message)


def make_trainer(
    plan: Plan, logger: TensorBoardLogger, callbacks: list[pl.Callback], out_dir: Path
) -> pl.Trainer:
    try:
        return pl.Trainer(
            accelerator=plan.accelerator,
            devices=plan.devices,
            precision="32-true",  # AMP would break L-BFGS
            gradient_clip_val=None,  # clipping would corrupt L-BFGS's curvature pairs
            deterministic=plan.deterministic,
            benchmark=not plan.deterministic,  # cuDNN autotune: one image size, fastest kernels found once
            plugins=[LightningEnvironment()],  # one run is one process, even inside a SLURM job
            max_epochs=1,
            logger=logger,
            callbacks=callbacks,
            enable_checkpointing=False,  # our own checkpoint holds the image and optimizer, not VGG
            enable_model_summary=False,
            enable_progress_bar=plan.progress_bar,
            num_sanity_val_steps=0,
            log_every_n_steps=1,  # losses go to TensorBoard through RunMonitor; this only silences a warning
            default_root_dir=str(out_dir),
        )
    except Exception as err:  # a misconfigured trainer (e.g. devices=3 on one GPU)
        raise NSTError(f"cannot build the trainer: {str(err).splitlines()[0]}") from None
