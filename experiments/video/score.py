"""How steady a video run is: the warping error (Lai et al. 2018) of its frames and of its input's.

Reads a finished (or stopped) ``content=clip.mp4`` run folder: ``frames/`` (the results) and
``input/`` (the clip's frames at ``size``). The warping error is the mean over consecutive pairs of
the squared difference between frame t and frame t+1 warped back onto it, over the pixels the
input's flow marks consistent (frames in [0, 1]); the input's own is the floor a result can reach.

    python experiments/video/score.py outputs/2026-12-05/19-00-00_gg-starry_night_1a2b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nst.images import read_image, to_tensor
from nst.video.flow import warping_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a video run's folder (frames/ and input/)")
    parser.add_argument("--preset", default="medium", help="the DIS preset of the scoring flow")
    args = parser.parse_args()
    results = sorted((args.run / "frames").glob("frame_*.png"))
    if len(results) < 2:
        raise SystemExit(f"score: {args.run / 'frames'} holds {len(results)} frame(s); it takes two or more")
    inputs = [args.run / "input" / path.name for path in results]
    frames = [to_tensor(read_image(path)) for path in results]
    clip = [to_tensor(read_image(path)) for path in inputs]
    report = {
        "frames": len(results),
        "warping_error": warping_error(frames, clip, args.preset),
        "input_warping_error": warping_error(clip, clip, args.preset),
    }
    report["ratio_to_input"] = report["warping_error"] / max(report["input_warping_error"], 1e-12)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
