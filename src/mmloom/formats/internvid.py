"""InternVid video clips: JSON Lines of ``{"YoutubeID": <video path, relative to the file's folder>,
"Start_timestamp": "HH:MM:SS.fff", "End_timestamp": ..., "Caption", "Aesthetic_Score",
"UMT_Score", ...}``.

Reading follows ``internvid_to_dj``: the caption wrapped with the video token, the other fields
kept, ``is_cut`` added. With ``cut_videos`` (the default) the [start, end) span is cut out of the
source video into a clip file (see ``mmloom.media.cut``), which becomes ``videos[0]``. The source
is checked first: a missing or unreadable video, a timestamp without its fraction, an end before
the start, or a path that leaves the input file's folder is a RecordError naming the record. Clip
names replace the timestamps' colons with ``-`` so that they are valid on every file system
(``dj_clip_names`` gives Data-Juicer's names, colons included).

Writing follows ``dj_to_internvid``. With ``__mmloom__`` the rows come back exactly: the original
``YoutubeID`` (not the clip's path), the caption's whitespace, key order, no ``is_cut``.
"""

from __future__ import annotations

import datetime
import os
import re
import zlib
from typing import Any

from ..errors import RecordError, UsageError
from ..media import MediaError, cut_clip, probe
from ..media.cut import MODES
from ..model import Sample, Text
from ..options import Option, Options
from . import _fields, _video
from .base import Format, SkipRecord

TEMPLATE = ("YoutubeID", "Start_timestamp", "End_timestamp", "Caption", "Aesthetic_Score", "UMT_Score")
OWN = ("YoutubeID", "Caption")
ADDED = ("is_cut",)
TIMESTAMP = "%H:%M:%S.%f"
# characters some common file system refuses in a name (Windows' list; '/' never reaches here)
UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')

READ_OPTIONS = _video.read_options(
    Option("cut_videos", True, "cut the [Start_timestamp, End_timestamp) clip out of each source video"),
    Option("cut_video_store_path", None, "folder for the clips (created if missing); default: the "
           "source video's own folder", type=str),
    Option("cut_mode", "exact", "exact: re-encode, the clip lasts the asked span to within one frame; "
           "copy: no re-encoding, the clip starts at the keyframe before the start", choices=MODES),
    Option("dj_clip_names", False, "name clips as Data-Juicer does, <stem>_<start>_<end><ext> with the "
           "timestamps' colons (invalid on Windows and some shares)"),
)
WRITE_OPTIONS = _video.write_options()


def _prepare_read(opts: Options) -> Options:
    store = opts.cut_video_store_path
    if opts.cut_videos and store:
        try:
            os.makedirs(store, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cut_video_store_path {store}: cannot be created ({exc.strerror or exc})") from None
    return opts


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"an InternVid row must be a JSON object, not {type(record).__name__}")
    if "YoutubeID" not in record:
        raise RecordError("is missing", field="YoutubeID")
    video = record["YoutubeID"]
    caption = _fields.string_field(record, "Caption", video)
    others = {k: v for k, v in record.items() if k not in OWN}
    where = _video.side(opts, f"{video}\0{caption}")
    path = _cut(record, video, opts) if opts.cut_videos else video
    body = [Text(caption)] if caption else []
    sample = _video.build_sample("internvid", record, opts, body, where, path, others,
                                 {"is_cut": bool(opts.cut_videos)}, others, TEMPLATE)
    if sample.carry is not None and path != video:
        # the clip replaced the source video: keep the source, and which clip path it became
        sample.carry["video"] = video
        sample.carry["clip"] = zlib.crc32(path.encode("utf-8", "surrogatepass"))
    return sample


def _seconds(record: dict[str, Any], key: str, rid: Any) -> float:
    value = record.get(key)
    if key not in record:
        raise RecordError("is missing; cutting needs both timestamps", field=key, record_id=rid)
    if not isinstance(value, str):
        raise RecordError(f"must be a timestamp string HH:MM:SS.fff, not {type(value).__name__}",
                          field=key, record_id=rid)
    try:
        t = datetime.datetime.strptime(value, TIMESTAMP)
    except ValueError:
        raise RecordError(f"{value!r} is not a timestamp HH:MM:SS.fff (the fraction is required)",
                          field=key, record_id=rid) from None
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def clip_name(video: str, start: str, end: str, dj_names: bool) -> str:
    """``<stem>_<start>_<end><ext>`` as Data-Juicer names clips; unless ``dj_names``, with the
    colons of the timestamps turned into '-' and every other character a common file system
    refuses turned into '_'."""
    stem, ext = os.path.splitext(os.path.basename(video))
    name = f"{stem}_{start}_{end}{ext}"
    if dj_names:
        return name
    return UNSAFE_NAME_CHARS.sub("_", f"{stem}_{start.replace(':', '-')}_{end.replace(':', '-')}") + \
        UNSAFE_NAME_CHARS.sub("_", ext)


def _cut(record: dict[str, Any], video: Any, opts: Options) -> str:
    rid = video
    start = _seconds(record, "Start_timestamp", rid)
    end = _seconds(record, "End_timestamp", rid)
    if end <= start:
        raise RecordError(
            f"ends ({record['End_timestamp']}) before it starts ({record['Start_timestamp']}); "
            "the clip would be empty", field="End_timestamp", record_id=rid)
    if not isinstance(video, str) or not video:
        raise RecordError("must be the path of the video to cut (a string)", field="YoutubeID", record_id=rid)
    if not os.path.splitext(os.path.basename(video))[1]:
        raise RecordError("has no file extension, so the clip's container cannot be chosen",
                          field="YoutubeID", record_id=rid)
    if not os.path.isabs(video):
        norm = os.path.normpath(video)
        if norm == os.pardir or norm.startswith(os.pardir + os.sep):
            raise RecordError("leaves the folder of the input file ('..'); refused, since its clip "
                              "would be written outside it", field="YoutubeID", record_id=rid)
    source = os.path.join(_fields.input_folder(opts), video)
    if not os.path.isfile(source):
        raise RecordError(f"source video {source} does not exist", field="YoutubeID", record_id=rid)
    try:
        info = probe(source)
    except MediaError as exc:
        raise RecordError(f"source video cannot be read: {exc}", field="YoutubeID", record_id=rid) from None
    if info.video is None:
        raise RecordError(f"source video {source} has no video stream", field="YoutubeID", record_id=rid)
    duration = info.video_duration
    if duration is not None and start >= duration:
        raise SkipRecord(f"the clip starts ({record['Start_timestamp']}) after the end of the video "
                         f"({duration:.3f} s): no clip", field="Start_timestamp", record_id=rid)
    store = opts.cut_video_store_path or os.path.dirname(os.path.abspath(source))
    clip = os.path.join(store, clip_name(video, record["Start_timestamp"], record["End_timestamp"],
                                         opts.dj_clip_names))
    try:
        cut_clip(source, clip, start, end, opts.cut_mode)
    except MediaError as exc:
        raise RecordError(f"cutting the clip failed: {exc}", field="YoutubeID", record_id=rid) from None
    return clip


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    carry = _fields.carried(sample, "internvid", opts.lossless)
    video = _video.first_video(sample)
    if carry is not None and "video" in carry and isinstance(video, str) and \
            zlib.crc32(video.encode("utf-8", "surrogatepass")) == carry.get("clip"):
        video = carry["video"]  # still the clip reading cut: the row names its source video
    return _video.caption_record(sample, opts, carry, "YoutubeID", video, "Caption", TEMPLATE, ADDED)


FORMAT = Format(
    name="internvid",
    description="InternVid video clips: JSON Lines of {YoutubeID, Start_timestamp, End_timestamp, Caption, scores}",
    modalities=("video",),
    file_types=("jsonl", "json", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    prepare_read=_prepare_read,
    example="mmloom convert internvid.jsonl internvid.dj.jsonl --from internvid --to dj "
            "--opt cut_video_store_path=clips",
)
