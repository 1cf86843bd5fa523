"""Cutting the [start, end) span of a video into a clip file, with PyAV (FFmpeg's libraries).

Two modes:
- ``exact``: decodes from the keyframe before ``start``, keeps the frames whose time lies in
  [start, end) and re-encodes them with the source's codec (or H.264 when there is no encoder for
  it). The clip starts at ``start`` and lasts the asked span to within one frame interval. Audio
  packets in the span are copied as they are (an AAC packet is 1024 samples, about 21-64 ms).
- ``copy``: copies the packets without decoding, from the keyframe at or before ``start`` to
  ``end``. Fast and without any quality loss, but a clip can only begin on a keyframe: it starts up
  to one keyframe interval early (the codec's GOP, often 1-10 s) and may run a couple of frames past
  ``end`` (frames that frames before ``end`` refer to).

The clip is written under a temporary name in the target folder and renamed when complete, so an
error never leaves half a clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .probe import MediaError, _reason, open_media

MODES = ("exact", "copy")
FALLBACK_ENCODERS = ("libx264", "mpeg4")


@dataclass(frozen=True)
class Clip:
    path: str
    frames: int
    start: float  # where in the source the clip begins, in seconds
    duration: float  # video frames' span: first to last frame plus one frame interval


def cut_clip(source: str, target: str, start: float, end: float, mode: str = "exact") -> Clip:
    """Write the [start, end) span of ``source`` to ``target`` (its extension picks the container).
    Raises MediaError when the source cannot be read, has no video, or has no frame in the span."""
    import av

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if end <= start:
        raise MediaError(f"the span [{start}, {end}] s is empty")
    folder, name = os.path.split(target)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.mmloom-tmp-{os.getpid()}{ext}")
    src = open_media(source)
    out = None
    try:
        if not src.streams.video:
            raise MediaError(f"{source}: has no video stream")
        try:
            out = av.open(tmp, "w")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise MediaError(f"{target}: cannot be written ({_reason(exc)})") from None
        cutter = _exact if mode == "exact" else _copy
        clip = cutter(src, out, start, end, target)
        out.close()
        out = None
        if clip.frames == 0:
            raise MediaError(f"{source}: no video frame lies in [{start:.3f}, {end:.3f}) s")
        os.replace(tmp, target)
        return clip
    except av.FFmpegError as exc:
        raise MediaError(f"{source}: cutting [{start:.3f}, {end:.3f}) s failed ({_reason(exc)})") from None
    finally:
        if out is not None:
            try:
                out.close()
            except av.FFmpegError:  # nothing more to save: the temporary file goes anyway
                pass
        src.close()
        if os.path.exists(tmp):
            os.remove(tmp)


def _ticks(seconds: float, time_base: Fraction, offset: int | None) -> int:
    return round(Fraction(seconds) / time_base) + (offset or 0)


def _encoder(codec: str, out: Any) -> str:
    import av

    supported = out.supported_codecs
    for name in (codec, *FALLBACK_ENCODERS):
        try:
            enc = av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        if enc.name in supported or name in supported:
            return name
    raise MediaError(f"no video encoder for {codec!r} that the {out.format.name} container takes")


def _pixel_format(encoder: str, wanted: str | None) -> str:
    import av

    formats = [f.name for f in (av.codec.Codec(encoder, "w").video_formats or ())]
    if not formats or wanted in formats:
        return wanted or "yuv420p"
    return "yuv420p" if "yuv420p" in formats else formats[0]


def _audio_stream(src: Any, out: Any) -> tuple[Any, Any]:
    if not src.streams.audio:
        return None, None
    ain = src.streams.audio[0]
    return ain, out.add_stream_from_template(ain)


@dataclass
class _Span:
    """The source's video stream and the span in its time base, once the source has been seeked
    to the keyframe at or before the start."""

    vin: Any
    tb: Fraction
    rate: Fraction | None
    start_tick: int
    end_tick: int


def _seek(src: Any, start: float, end: float) -> _Span:
    vin = src.streams.video[0]
    tb = vin.time_base
    span = _Span(vin, tb, vin.average_rate or vin.base_rate or vin.guessed_rate,
                 _ticks(start, tb, vin.start_time), _ticks(end, tb, vin.start_time))
    src.seek(span.start_tick, backward=True, any_frame=False, stream=vin)
    return span


def _exact(src: Any, out: Any, start: float, end: float, target: str) -> Clip:
    vin = src.streams.video[0]
    tb = vin.time_base
    encoder = _encoder(vin.codec_context.name, out)
    vout = out.add_stream(encoder, rate=vin.average_rate or vin.base_rate or vin.guessed_rate)
    vout.width = vin.codec_context.width
    vout.height = vin.codec_context.height
    vout.pix_fmt = _pixel_format(encoder, vin.codec_context.pix_fmt)
    # encode in the source's time base so variable frame rates keep their timing
    vout.codec_context.time_base = tb
    vout.time_base = tb
    ain, aout = _audio_stream(src, out)
    if ain is not None:
        a_start, a_end = _ticks(start, ain.time_base, ain.start_time), _ticks(end, ain.time_base, ain.start_time)
    span = _seek(src, start, end)
    start_tick, end_tick = span.start_tick, span.end_tick
    frames = 0
    first = last = None
    video_done, audio_done = False, ain is None
    streams = [vin] + ([ain] if ain is not None else [])
    for packet in src.demux(*streams):
        if packet.stream.type == "video":
            if video_done:
                continue
            for frame in packet.decode():
                if frame.pts is None or frame.pts < start_tick:
                    continue
                if frame.pts >= end_tick:
                    video_done = True
                    break
                pts = frame.pts - start_tick
                first = pts if first is None else min(first, pts)
                last = pts if last is None else max(last, pts)
                if frame.format.name != vout.pix_fmt:
                    frame = frame.reformat(format=vout.pix_fmt)
                frame.pts = pts
                frame.time_base = tb
                frame.pict_type = 0  # let the encoder choose frame types afresh
                for p in vout.encode(frame):
                    out.mux(p)
                frames += 1
        elif not audio_done and packet.pts is not None and packet.dts is not None:
            audio_done = _mux_audio(packet, a_start, a_end, aout, out)
        if video_done and audio_done:
            break
    for p in vout.encode(None):
        out.mux(p)
    return Clip(target, frames, start, _duration(first, last, tb, span.rate))


def _copy(src: Any, out: Any, start: float, end: float, target: str) -> Clip:
    vin = src.streams.video[0]
    tb = vin.time_base
    vout = out.add_stream_from_template(vin)
    ain, aout = _audio_stream(src, out)
    span = _seek(src, start, end)
    end_tick = span.end_tick
    shift = None  # pts of the first kept (key)frame: the clip's time zero
    a_shift = a_end = 0
    if ain is not None:
        a_end = _ticks(end, ain.time_base, ain.start_time)
    frames = 0
    first = last = None
    video_done, audio_done = False, ain is None
    pending_audio: list[Any] = []  # audio read before the first keyframe fixed time zero
    held: list[Any] = []  # video packets shown at or after the end, kept only if needed
    streams = [vin] + ([ain] if ain is not None else [])
    for packet in src.demux(*streams):
        if packet.pts is None or packet.dts is None:
            continue
        if packet.stream.type == "video":
            if video_done:
                continue
            if shift is None:
                if not packet.is_keyframe:
                    continue
                shift = packet.pts
                if ain is not None:
                    a_shift = round((shift - (vin.start_time or 0)) * tb / ain.time_base) + (ain.start_time or 0)
                for ap in pending_audio:
                    audio_done = _mux_audio(ap, a_shift, a_end, aout, out) or audio_done
                pending_audio = []
            # in decode order, up to the first packet decoded at or after the end. A frame shown
            # at or after the end is held back, and kept only if a frame shown before the end is
            # decoded after it (which may refer to it); what is still held at the end goes.
            if packet.dts >= end_tick:
                video_done = True
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = vout
            held.append(packet)
            if packet.pts + shift < end_tick:
                for p in held:
                    first = p.pts if first is None else min(first, p.pts)
                    last = p.pts if last is None else max(last, p.pts)
                    out.mux(p)
                frames += len(held)
                held = []
        elif not audio_done:
            if shift is None:
                pending_audio.append(packet)
            else:
                audio_done = _mux_audio(packet, a_shift, a_end, aout, out)
        if video_done and audio_done:
            break
    clip_start = float((shift - (vin.start_time or 0)) * tb) if shift is not None else start
    return Clip(target, frames, clip_start, _duration(first, last, tb, span.rate))


def _mux_audio(packet: Any, a_shift: int, a_end: int, aout: Any, out: Any) -> bool:
    """Mux one copied audio packet if it lies in [a_shift, a_end) (shifted to start at 0); True
    once past the end."""
    if packet.pts >= a_end:
        return True
    if packet.pts >= a_shift:
        packet.pts -= a_shift
        packet.dts -= a_shift
        packet.stream = aout
        out.mux(packet)
    return False


def _duration(first: int | None, last: int | None, tb: Fraction, rate: Fraction | None) -> float:
    if first is None or last is None:
        return 0.0
    return float((last - first) * tb) + (float(1 / rate) if rate else 0.0)
