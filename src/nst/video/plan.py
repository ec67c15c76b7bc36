"""The plan of a video run (``content=clip.mp4``): the clip's header, the ``video.*`` keys checked,
and the options that mean nothing frame by frame refused (nst.plan.make_plan calls these)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from nst.checks import check_writable, non_negative, non_negative_int, one_of, positive_int
from nst.errors import NSTError


@dataclass(frozen=True)
class VideoPlan:
    """content=clip.mp4: the clip (probed from its header) and how its frames are tied together."""

    width: int  # the clip's frames, before `size`
    height: int
    frames: int  # in the whole clip
    rate: Fraction  # frames per second
    audio: bool
    first: int  # the frames stylised, 1-based, inclusive
    last: int
    first_steps: int
    steps: int
    temporal_weight: float
    warm_start: bool
    flow_preset: str
    temporal_frames: tuple[int, ...]  # earlier frames each is tied to, as offsets: 1 first


def videos_in(folder: Path) -> list[Path]:
    from nst.video.io import VIDEO_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def frame_offsets(value: Any) -> tuple[int, ...]:
    """video.temporal_frames: distinct positive offsets that include 1 (the frame before), ascending."""
    offsets = list(value) if isinstance(value, (list, tuple, ListConfig)) else None
    if (
        not offsets
        or any(isinstance(j, bool) or not isinstance(j, int) or j < 1 for j in offsets)
        or len(set(offsets)) < len(offsets)
        or 1 not in offsets
    ):
        raise NSTError(
            "video.temporal_frames must list distinct earlier frames as positive offsets, 1 (the frame "
            f"before) among them: [1], or [1,2,4] for long-term terms; got {value!r}"
        )
    return tuple(sorted(offsets))


def video_plan(
    cfg: DictConfig, content: Path | None, sizes: tuple[int, ...], steps: int, image_suffixes: frozenset[str]
) -> VideoPlan | None:
    """The video plan of content=clip.mp4 (None for an image), its keys checked and the options that
    mean nothing frame by frame refused."""
    from nst.video.io import looks_like_video, probe

    node = cfg.video
    keys = {  # checked for every run: a typo in them never waits for a video to fail
        "first_steps": steps
        if node.first_steps is None
        else positive_int(node.first_steps, "video.first_steps"),
        "steps": positive_int(node.steps, "video.steps"),
        "temporal_weight": non_negative(node.temporal_weight, "video.temporal_weight"),
        "warm_start": bool(node.warm_start),
        "flow_preset": one_of(node.flow_preset, "video.flow_preset", ("ultrafast", "fast", "medium")),
        "temporal_frames": frame_offsets(node.temporal_frames),
    }
    if content is None or content.is_dir() or not looks_like_video(content, image_suffixes):
        if node.frames is not None:
            raise NSTError("video.frames selects frames of a video: content is not one")
        return None
    refused = {
        "tile": "tile (print size by tiles) does not apply to video frames",
        "scales": "scales (coarse-to-fine) does not apply to a video: each frame runs at `size`",
        "time_budget": "time_budget does not apply to a video: give video.first_steps and video.steps",
    }
    for key, why in refused.items():
        if cfg[key] is not None:
            raise NSTError(f"{why} ({key}={cfg[key]}); drop it")
    if len(sizes) > 1:
        raise NSTError(
            f"a video runs at one scale: size={sizes[-1]} is above working_size={cfg.working_size}; "
            "use a smaller size or working_size=null"
        )
    info = probe(content)
    limit = non_negative_int(cfg.max_input_pixels, "max_input_pixels")
    if limit and info.width * info.height > limit:
        raise NSTError(
            f"the frames of {content} are {info.width}x{info.height} = {info.width * info.height:,} pixels, "
            f"above max_input_pixels={limit:,}; shrink the video or raise max_input_pixels"
        )
    first, last = 1, info.frames
    if node.frames is not None:
        if len(node.frames) != 2:
            raise NSTError(f"video.frames must be [first,last], got {list(node.frames)}")
        first, last = int(node.frames[0]), int(node.frames[1])
        if not 1 <= first <= last <= info.frames:
            raise NSTError(
                f"video.frames=[{first},{last}] is outside the clip: {content.name} has frames "
                f"1..{info.frames}"
            )
    return VideoPlan(info.width, info.height, info.frames, info.rate, info.audio, first, last, **keys)


def video_output(cfg: DictConfig, content: Path, resuming: bool) -> Path | None:
    """``output=clip.mp4`` of a video run: a video file that can be written, never the input."""
    from nst.outputs import _never_over_inputs
    from nst.video.io import OUTPUT_SUFFIXES

    if not cfg.output:
        return None
    output = Path(str(cfg.output)).expanduser()
    if output.is_dir() or output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise NSTError(
            f"output {output}: with a video, output names the video file ({', '.join(OUTPUT_SUFFIXES)})"
        )
    check_writable(output.parent, "output folder")
    _never_over_inputs([output], [content])
    if output.exists() and not cfg.overwrite and not resuming:
        raise NSTError(f"output {output} exists; pass overwrite=true to replace it")
    return output.absolute()
