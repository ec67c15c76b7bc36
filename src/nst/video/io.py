"""Video files through PyAV (FFmpeg): probe (header only), decode to RGB frames, encode H.264 with the
input's frame rate and, where it has one, its audio copied. Every failure is one NSTError line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from nst.errors import NSTError

# Names taken as videos without asking FFmpeg; any other file that is not an image is asked.
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
    }
)
OUTPUT_SUFFIXES = (".mp4", ".mkv", ".mov")  # containers that hold H.264 and the usual audio codecs


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    frames: int
    rate: Fraction  # frames per second
    audio: bool


def _av_error(path: Path, err: Exception) -> NSTError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return NSTError(f"cannot read the video {path}: {text}")


def looks_like_video(path: Path, image_suffixes: frozenset[str]) -> bool:
    """A file named as a video, or (not named as an image) one FFmpeg opens with a video stream."""
    if not path.is_file() or path.suffix.lower() in image_suffixes:
        return False
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return False


def probe(path: Path) -> VideoInfo:
    """Size, frame count, rate and audio of ``path`` from its header and packets (no frame decoded)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NSTError(f"{path} holds no video stream")
            stream = container.streams.video[0]
            frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)  # counted when unset
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            info = VideoInfo(
                path,
                stream.codec_context.width,
                stream.codec_context.height,
                frames,
                Fraction(rate),
                bool(container.streams.audio),
            )
    except av.FFmpegError as err:
        raise _av_error(path, err) from None
    if info.frames == 0 or not info.width or not info.height:
        raise NSTError(f"the video {path} has no frames")
    return info


def frames(path: Path, first: int = 1, last: int | None = None) -> Iterator[Image.Image]:
    """The frames ``first..last`` (1-based, inclusive) of ``path`` as RGB PIL images."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for index, frame in enumerate(container.decode(stream), start=1):
                if last is not None and index > last:
                    break
                if index >= first:
                    yield frame.to_image()  # RGB, whatever the pixel format
    except av.FFmpegError as err:
        raise _av_error(path, err) from None


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in yuv420p needs even edges: an odd one loses its last pixel."""
    return width - width % 2, height - height % 2


def encode(
    images: list[Path], target: Path, rate: Fraction, audio_from: Path | None = None, start: float = 0.0
) -> None:
    """Write the PNG frames ``images`` as H.264 (libx264, yuv420p) at ``rate`` frames per second, cropped to
    even edges; with ``audio_from``, its audio stream from ``start`` seconds on, for as long as the
    frames last, is copied (remuxed, not re-encoded)."""
    import av

    with Image.open(images[0]) as first:
        width, height = even_size(*first.size)
    tmp = target.with_name(f".{target.stem}.tmp{target.suffix}")
    try:
        with av.open(str(tmp), "w") as out:
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {
                "crf": "18",
                "preset": "medium",
            }  # visually lossless; the PNGs keep the exact frames
            source = av.open(str(audio_from)) if audio_from is not None else None
            sound = None
            if source is not None and source.streams.audio:
                try:
                    sound = out.add_stream_from_template(source.streams.audio[0])
                except (av.FFmpegError, ValueError):
                    sound = None  # a codec this container cannot hold: the video goes without it
            for index, path in enumerate(images):
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))[:height, :width]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = index
                frame.time_base = 1 / Fraction(rate)
                out.mux(video.encode(frame))
            out.mux(video.encode())
            if sound is not None and source is not None:
                _copy_audio(source, out, sound, start, start + len(images) / rate)
            if source is not None:
                source.close()
        tmp.replace(target)
    except av.FFmpegError as err:
        tmp.unlink(missing_ok=True)
        raise NSTError(f"cannot write the video {target}: {err}") from None
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise NSTError(f"cannot write the video {target}: {err.strerror or err}") from None


def _copy_audio(source, out, sound, start: float, end: float) -> None:  # noqa: ANN001 (PyAV objects)
    """The audio packets of ``source`` between ``start`` and ``end`` seconds, shifted to start at 0."""
    stream = source.streams.audio[0]
    base = stream.time_base
    offset = None
    for packet in source.demux(stream):
        if packet.pts is None or packet.dts is None:
            continue
        seconds = float(packet.pts * base)
        if seconds < start - 1e-6 or seconds >= end:
            continue
        offset = packet.pts if offset is None else offset
        packet.pts -= offset
        packet.dts -= offset
        packet.stream = sound
        out.mux(packet)
