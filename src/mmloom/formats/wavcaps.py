"""WavCaps audio captions: one JSON object per sub-dataset (FreeSound, BBC Sound Effects,
SoundBible, AudioSet strongly-labelled), ``{"num_captions_per_audio": N, "data": [records]}``;
records hold ``id``, ``caption``, ``audio``, ``duration`` and, depending on the sub-dataset,
``title``, ``description``, ``author``, ``href``, ``download_link``, ``category``, ``tags``,
``file_name``...

Reading follows ``wavcaps_to_dj``: the audio file is looked up by name (``<id up to its first
dot>.flac``) in the folder tree ``wavcaps_audio_path``; the text is ``audio token + separator
[+ "[[field]]: "] + target field [+ eoc]``; ``__dj__meta__`` is the record padded with ``""`` for
the keys other sub-datasets have (``num_captions_per_audio`` first), so that samples of every
sub-dataset share one set of fields and merge. Records without an audio file or without the target
field are left out (to the rejects file), as Data-Juicer leaves them out.

Writing follows ``dj_to_wavcaps``: the record is the meta with the target field taken from the
text, and the file's ``num_captions_per_audio`` is the last record's. With ``__mmloom__`` the
records come back exactly: the padding keys removed again (unless processing filled them), the
key order restored, the text's whitespace kept.
"""

from __future__ import annotations

import os
from typing import Any

from .. import djcodec
from ..errors import RecordError, UsageError
from ..model import META_KEY, Chunk, Media, Piece, Role, Sample, Text, Tokens
from ..options import Option, Options
from .base import Container, Format, SkipRecord, default_tokens

NUM_KEY = "num_captions_per_audio"
# the keys Data-Juicer gives every meta (in this order, after num_captions_per_audio)
PADDED = ("title", "description", "author", "href", "caption", "id", "duration", "audio",
          "download_link", "category", "tags")
TARGET_FIELDS = ("caption", "description", "title")
AUDIO_EXT = ".flac"
_T = Tokens()


def _field_option() -> Option:
    return Option("target_field", "caption", "the field that becomes (and comes back from) the text",
                  choices=TARGET_FIELDS)


READ_OPTIONS = (
    Option("wavcaps_audio_path", None, "folder tree of the audio files (required), walked once", type=str),
    Option("str_id", True, "write ids as strings, as Data-Juicer does"),
    _field_option(),
    Option("eoc_special_token", _T.eoc, "end-of-chunk token"),
    Option("audio_special_token", _T.audio, "audio token"),
    Option("add_eoc_at_last", True, "append eoc (without a space) at the end of the text"),
    Option("add_target_field_token", False, "put '[[<target_field>]]: ' before the text"),
    Option("sent_separator", "\n", "glue between the audio token and the text"),
    Option("lossless", True, "write __mmloom__ so the way back gives the original records exactly"),
)

WRITE_OPTIONS = (
    _field_option(),
    Option("eoc_special_token", _T.eoc, "end-of-chunk token"),
    Option("audio_special_token", _T.audio, "audio token"),
    Option("remove_eoc_at_last", True, "remove every eoc token from the text"),
    Option("remove_target_field_token", False, "remove every '[[<target_field>]]: ' from the text"),
    Option("sent_separator", "\n", "separator used when the data was converted"),
    Option("lossless", True, "use __mmloom__ when present to give back the original records exactly"),
)


def _field_token(field: str) -> str:
    return f"[[{field}]]: "


def _prepare_read(opts: Options) -> Options:
    root = opts.wavcaps_audio_path
    if not root:
        raise UsageError("reading wavcaps needs --opt wavcaps_audio_path=<folder of the audio files>")
    if not os.path.isdir(root):
        raise UsageError(f"wavcaps_audio_path {root}: no such folder")
    files: dict[str, str] = {}
    # sorted, so that when a name is in several folders the same one wins on every machine
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            files[name] = os.path.join(folder, name)
    opts = Options(opts)
    opts["_audio_files"] = files
    return opts


def _layout(opts: Options) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if opts.target_field != "caption":
        out["field"] = opts.target_field
    if opts.sent_separator != "\n":
        out["sep"] = opts.sent_separator
    if not opts.add_eoc_at_last:
        out["eoc"] = False
    if opts.add_target_field_token:
        out["field_token"] = True
    if opts.audio_special_token != _T.audio or opts.eoc_special_token != _T.eoc:
        out["tokens"] = [opts.audio_special_token, opts.eoc_special_token]
    return out


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"a WavCaps record must be a JSON object, not {type(record).__name__}")
    if "id" not in record:
        raise RecordError("is missing", field="id")
    rid = record["id"]
    sid = str(rid) if opts.str_id else rid
    if not isinstance(sid, str):
        raise RecordError(f"is {type(rid).__name__} {rid!r}; with str_id=false every id must already be a "
                          "string (the audio file is named after it)", field="id", record_id=rid)
    header = opts.get("_header") or {}
    if NUM_KEY not in header and NUM_KEY not in record:
        raise RecordError(f"has no {NUM_KEY}, and neither has the file before its records (a WavCaps "
                          f'file is {{"{NUM_KEY}": N, "data": [...]}}, read as a stream)', field=NUM_KEY,
                          record_id=rid)
    meta: dict[str, Any] = {NUM_KEY: header.get(NUM_KEY)}
    meta.update(dict.fromkeys(PADDED, ""))
    meta.update(record)
    audio_name = sid.strip().split(".")[0] + AUDIO_EXT
    audio = opts["_audio_files"].get(audio_name)
    if audio is None:
        raise SkipRecord(f"has no audio file {audio_name} under {opts.wavcaps_audio_path} (Data-Juicer "
                         "leaves such records out)", field="id", record_id=rid)
    field = opts.target_field
    if field not in record:
        raise SkipRecord(f"has no {field} (target_field), so no text (Data-Juicer leaves such records out)",
                         field=field, record_id=rid)
    value = record[field]
    if not isinstance(value, str):
        raise RecordError(f"must be a string to become the text, not {type(value).__name__}",
                          field=field, record_id=rid)
    pieces: list[Piece] = [Media("audio")]
    if opts.sent_separator:
        pieces.append(Text(opts.sent_separator))
    if opts.add_target_field_token:
        pieces.append(Role(field, _field_token(field)))
    if value:
        pieces.append(Text(value))
    sample = Sample(
        chunks=[Chunk(pieces, closed=opts.add_eoc_at_last)],
        media={"audio": [audio]},
        fields={"id": sid, META_KEY: meta},
        order=["id", "text", "audios", META_KEY],
    )
    djcodec.assign_paths(sample)
    if opts.lossless:
        carry: dict[str, Any] = {"format": "wavcaps", "keys": list(record.keys())}
        spec = _layout(opts)
        if spec:
            carry["layout"] = spec
        sample.carry = carry
    return sample


def _value_exact(text: str, spec: dict[str, Any]) -> str | None:
    tok, eoc = spec.get("tokens", (_T.audio, _T.eoc))
    head = tok + spec.get("sep", "\n")
    if spec.get("field_token"):
        head += _field_token(spec.get("field", "caption"))
    if not text.startswith(head):
        return None
    text = text[len(head):]
    if spec.get("eoc", True):
        if not text.endswith(eoc):
            return None
        text = text[: len(text) - len(eoc)]
    return text


def _value_dj(text: str, field: str, opts: Options, tokens: Tokens) -> str:
    value = text.replace(tokens.audio + opts.sent_separator, "")
    if opts.remove_eoc_at_last and tokens.eoc:
        value = value.replace(tokens.eoc, "")
    if opts.remove_target_field_token:
        value = value.replace(_field_token(field), "")
    return value


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    carry = sample.carry if opts.lossless and isinstance(sample.carry, dict) and \
        sample.carry.get("format") == "wavcaps" else None
    meta = sample.fields.get(META_KEY)
    if meta is None:
        raise SkipRecord(f"has no {META_KEY}, which holds the WavCaps record (Data-Juicer leaves such "
                         "samples out)", field=META_KEY)
    if not isinstance(meta, dict):
        raise RecordError(f"must be an object, not {type(meta).__name__}", field=META_KEY)
    spec = carry.get("layout", {}) if carry is not None else {}
    field = spec.get("field", "caption") if carry is not None else opts.target_field
    if field not in meta:
        raise SkipRecord(f"has no {field} (target_field) in {META_KEY} (Data-Juicer leaves such samples out)",
                         field=f"{META_KEY}.{field}")
    if NUM_KEY not in meta:
        raise RecordError(f"is missing; the WavCaps file's {NUM_KEY} comes from it", field=f"{META_KEY}.{NUM_KEY}")
    if not sample.has_text:
        raise RecordError("is missing", field="text")
    tokens = default_tokens(opts)
    text = sample.text(tokens)
    value = _value_exact(text, spec) if carry is not None else None
    if value is None:
        value = _value_dj(text, field, opts, tokens)
    values = dict(meta)
    num = values.pop(NUM_KEY)
    values[field] = value
    if carry is None:
        return {NUM_KEY: num, **values}
    keys = carry.get("keys") or list(values)
    for key in PADDED:  # Data-Juicer's padding, unless processing filled it in
        if key not in keys and values.get(key) == "":
            del values[key]
    out = {} if NUM_KEY in keys else {NUM_KEY: num}
    for key in keys:
        if key == NUM_KEY:
            out[key] = num
        elif key in values:
            out[key] = values.pop(key)
    out.update(values)
    return out


def _header(last: Any, opts: Options) -> dict[str, Any]:
    num = last.get(NUM_KEY, 1) if isinstance(last, dict) else 1
    return {NUM_KEY: num}


FORMAT = Format(
    name="wavcaps",
    description="WavCaps audio captions: {num_captions_per_audio, data: [{id, caption, audio, duration, ...}]}",
    modalities=("audio",),
    file_types=("json", "jsonl"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    container=Container(records_key="data", header=_header, header_keys=(NUM_KEY,)),
    prepare_read=_prepare_read,
    example="mmloom convert SoundBible.json soundbible.dj.jsonl --from wavcaps --to dj "
            "--opt wavcaps_audio_path=WavCaps/Audio/SoundBible",
)
