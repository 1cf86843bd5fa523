"""Probing and cutting real media: a 10-second test pattern with a tone, made here with PyAV."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from media_helpers import make_test_pattern

from mmloom.media import MediaError, cut_clip, decoded_video_span, probe

FPS = 25
FRAME = 1 / FPS
GOP_S = 1.0  # the pattern has a keyframe every second


@pytest.fixture(scope="module")
def pattern(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_test_pattern(tmp_path_factory.mktemp("media") / "pattern.mp4", seconds=10, fps=FPS,
                                 keyframe_every=int(GOP_S * FPS)))


def test_probe_reads_container_and_streams(pattern: str) -> None:
    info = probe(pattern)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.video.fps == pytest.approx(FPS)
    assert info.video.frames == 250
    assert info.video_duration == pytest.approx(10.0, abs=FRAME)
    assert info.duration == pytest.approx(10.0, abs=0.1)
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 44100)
    assert info.audio.channels >= 1
    assert info.audio.duration == pytest.approx(10.0, abs=0.1)


def test_probe_without_audio(tmp_path: Path) -> None:
    silent = make_test_pattern(tmp_path / "silent.mp4", seconds=1, fps=FPS, audio=False)
    info = probe(str(silent))
    assert info.audio is None and info.video is not None
    assert decoded_video_span(str(silent)).frames == FPS


@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 20])
def test_probe_refuses_what_is_not_media(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError, match="bad.mp4"):
        probe(str(bad))


def test_probe_refuses_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        probe(str(tmp_path / "nope.mp4"))
    with pytest.raises(MediaError, match="folder"):
        probe(str(tmp_path))


@pytest.mark.parametrize("start,end", [(0.0, 2.0), (2.5, 5.0), (7.25, 9.9), (3.0, 3.5), (0.52, 0.61)])
def test_exact_cut_lasts_the_span(pattern: str, tmp_path: Path, start: float, end: float) -> None:
    target = str(tmp_path / "clip.mp4")
    clip = cut_clip(pattern, target, start, end, "exact")
    span = decoded_video_span(target)
    info = probe(target)
    # every frame whose time lies in [start, end): the span to within one frame interval
    assert abs(span.duration - (end - start)) <= FRAME + 1e-6, (span, clip)
    assert span.frames == clip.frames
    assert span.first_pts < FRAME
    assert info.video is not None and info.video.fps == pytest.approx(FPS)
    assert info.audio is not None and info.audio.duration is not None
    assert abs(info.audio.duration - (end - start)) <= 0.05  # AAC packets of 1024 samples
    assert os.listdir(tmp_path) == ["clip.mp4"]  # no temporary file left


@pytest.mark.parametrize("start,end", [(0.0, 2.0), (2.5, 5.0), (7.25, 9.9)])
def test_copy_cut_starts_on_the_keyframe_before(pattern: str, tmp_path: Path, start: float, end: float) -> None:
    target = str(tmp_path / "clip.mp4")
    clip = cut_clip(pattern, target, start, end, "copy")
    span = decoded_video_span(target)
    keyframe = int(start // GOP_S) * GOP_S
    assert clip.start == pytest.approx(keyframe)
    slack = start - keyframe
    # no frame lost, and no more than the keyframe slack plus a few reordered frames at the end
    assert span.duration >= end - start - FRAME
    assert span.duration <= end - start + slack + 3 * FRAME, (span, clip)


def test_span_past_the_end_is_cut_at_the_end(pattern: str, tmp_path: Path) -> None:
    target = str(tmp_path / "tail.mp4")
    cut_clip(pattern, target, 9.0, 14.0)
    assert decoded_video_span(target).duration == pytest.approx(1.0, abs=FRAME)


def test_span_after_the_end_gives_no_clip(pattern: str, tmp_path: Path) -> None:
    target = tmp_path / "none.mp4"
    with pytest.raises(MediaError, match="no video frame"):
        cut_clip(pattern, str(target), 20.0, 21.0)
    assert list(tmp_path.iterdir()) == []


def test_empty_span_is_refused(pattern: str, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="empty"):
        cut_clip(pattern, str(tmp_path / "x.mp4"), 3.0, 3.0)


def test_cut_of_a_broken_source_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MediaError):
        cut_clip(str(bad), str(out / "clip.mp4"), 0.0, 1.0)
    assert list(out.iterdir()) == []
