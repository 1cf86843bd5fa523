"""Test media made on the spot with the FFmpeg that PyAV ships: a test pattern with a tone."""

from __future__ import annotations

from pathlib import Path


def make_test_pattern(path: Path, seconds: int = 10, fps: int = 25, keyframe_every: int = 25,
                      size: str = "320x240", audio: bool = True) -> Path:
    """An H.264 + AAC MP4: FFmpeg's ``testsrc`` pattern at ``fps`` frames a second with a keyframe
    every ``keyframe_every`` frames, and a 440 Hz tone."""
    import av

    width, height = (int(x) for x in size.split("x"))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = keyframe_every
        video.codec_context.options = {
            "x264-params": f"keyint={keyframe_every}:min-keyint={keyframe_every}:scenecut=0"}
        tone = out.add_stream("aac", rate=44100) if audio else None
        with av.open(f"testsrc=duration={seconds}:size={size}:rate={fps}", format="lavfi") as src:
            for frame in src.decode(video=0):
                frame = frame.reformat(format="yuv420p")
                frame.pts = None  # let the encoder number the frames at its rate
                frame.pict_type = 0  # the encoder places the keyframes, not the pattern source
                for packet in video.encode(frame):
                    out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if tone is not None:
            with av.open(f"sine=frequency=440:duration={seconds}:sample_rate=44100", format="lavfi") as src:
                for frame in src.decode(audio=0):
                    frame.pts = None
                    for packet in tone.encode(frame):
                        out.mux(packet)
            for packet in tone.encode(None):
                out.mux(packet)
    return path
