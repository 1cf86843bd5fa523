"""What a media file holds: container duration, and per stream the codec, frame rate, size, sample
rate. Read from the container's own information through PyAV (FFmpeg's libraries), without
decoding, except ``decoded_video_span`` which decodes every frame when the exact span is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import MmloomError


class MediaError(MmloomError):
    """A media file that is missing, unreadable or not what was expected. Formats turn it into a
    RecordError naming the record and field that pointed at the file."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float | None  # average frame rate; None when the container does not say
    frames: int  # frame count from the container header; 0 when unknown
    duration: float | None  # seconds, from the stream header


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: float | None


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format: str
    duration: float | None  # seconds, the container's (longest stream)
    video: VideoInfo | None
    audio: AudioInfo | None

    @property
    def video_duration(self) -> float | None:
        """The video stream's duration, else the container's."""
        if self.video is not None and self.video.duration is not None:
            return self.video.duration
        return self.duration


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def open_media(path: str) -> Any:
    """``av.open`` for reading, with a MediaError naming the file for anything that goes wrong."""
    import av

    if not os.path.exists(path):
        raise MediaError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MediaError(f"{path}: is a folder, not a media file")
    try:
        return av.open(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: not a readable media file ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def probe(path: str) -> MediaInfo:
    """Container and stream information, from headers only (fast: nothing is decoded)."""
    container = open_media(path)
    try:
        video = audio = None
        if container.streams.video:
            vs = container.streams.video[0]
            cc = vs.codec_context
            rate = vs.average_rate or vs.base_rate or vs.guessed_rate
            video = VideoInfo(
                codec=cc.name, width=cc.width, height=cc.height,
                fps=float(rate) if rate else None, frames=int(vs.frames or 0),
                duration=_seconds(vs.duration, vs.time_base),
            )
        if container.streams.audio:
            aus = container.streams.audio[0]
            cc = aus.codec_context
            audio = AudioInfo(
                codec=cc.name, sample_rate=int(cc.sample_rate or 0), channels=int(cc.channels or 0),
                duration=_seconds(aus.duration, aus.time_base),
            )
        duration = container.duration / 1_000_000 if container.duration is not None else None
        return MediaInfo(path=path, format=container.format.name, duration=duration, video=video, audio=audio)
    finally:
        container.close()


@dataclass(frozen=True)
class VideoSpan:
    frames: int
    first_pts: float  # seconds
    duration: float  # first frame to last frame plus one frame interval, in seconds


def decoded_video_span(path: str) -> VideoSpan:
    """Decode every video frame: how many there are and the time they cover. Proves the file is
    playable, where ``probe`` only reads headers."""
    import av

    container = open_media(path)
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        vs = container.streams.video[0]
        rate = vs.average_rate or vs.base_rate or vs.guessed_rate
        tb = vs.time_base
        frames = 0
        first = last = None
        try:
            for frame in container.decode(vs):
                pts = frame.pts
                if pts is None:
                    continue
                frames += 1
                first = pts if first is None else min(first, pts)
                last = pts if last is None else max(last, pts)
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: video stream cannot be decoded ({_reason(exc)})") from None
        if not frames or first is None or last is None:
            return VideoSpan(0, 0.0, 0.0)
        step = float(1 / rate) if rate else 0.0
        return VideoSpan(frames, float(first * tb), float((last - first) * tb) + step)
    finally:
        container.close()
