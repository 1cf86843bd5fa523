"""Media files: probing (duration, frame rate, size, sample rate) and cutting video clips, through
PyAV (FFmpeg's libraries, installed with the project)."""

from .cut import Clip, cut_clip
from .probe import MediaError, MediaInfo, decoded_video_span, probe

__all__ = ["Clip", "MediaError", "MediaInfo", "cut_clip", "decoded_video_span", "probe"]
