"""The conversion of one record, from format X through the unified sample to format Y.

This is the function every engine (in-process, worker processes, Ray) calls; it knows formats only
through their two functions and never touches files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MmloomError, RecordError, UsageError
from ..formats import get_format
from ..formats.base import TOKENS_OPTION, Format, default_tokens
from ..options import Options, resolve

TOKEN_OPTION_NAMES = ("image_special_token", "audio_special_token", "video_special_token", "eoc_special_token")


@dataclass
class Plan:
    """Both formats with their resolved options: everything a worker needs, and picklable."""

    src: Format
    dst: Format
    src_opts: Options
    dst_opts: Options

    def convert(self, record: Any) -> Any:
        sample = self.src.to_unified(record, self.src_opts)
        return self.dst.from_unified(sample, self.dst_opts)


def make_plan(src_name: str, dst_name: str, given: Mapping[str, Any] | None = None) -> Plan:
    """Resolve formats and options. An option applies to every side that declares it; one that
    neither side declares is an error listing the valid ones."""
    src, dst = get_format(src_name), get_format(dst_name)
    given = dict(given or {})
    src_names = {o.name for o in src.read_options}
    dst_names = {o.name for o in dst.write_options}
    unknown = [n for n in given if n not in src_names and n not in dst_names]
    if unknown:
        valid = sorted(src_names | dst_names)
        raise UsageError(
            f"unknown option {unknown[0]!r} for --from {src.name} --to {dst.name}; "
            f"valid options: {', '.join(valid) or 'none'}"
        )
    src_opts = resolve(src.read_options, {k: v for k, v in given.items() if k in src_names},
                       f"reading {src.name}")
    dst_opts = resolve(dst.write_options, {k: v for k, v in given.items() if k in dst_names},
                       f"writing {dst.name}")
    # The Data-Juicer side speaks the other format's tokens unless they were given explicitly:
    # Data-Juicer's llava_to_dj keeps "<image>" in its text, mmc4_to_dj writes "<__dj__image>".
    if src.name == "dj" and dst.name != "dj":
        _fill_tokens(src_opts, dst.tokens(dst_opts), given)
    if dst.name == "dj" and src.name != "dj":
        _fill_tokens(dst_opts, src.tokens(src_opts), given)
    if src.prepare_read:
        src_opts = src.prepare_read(src_opts)
    if dst.prepare_write:
        dst_opts = dst.prepare_write(dst_opts)
    for opts in (src_opts, dst_opts):
        opts.setdefault(TOKENS_OPTION, default_tokens(opts))
    return Plan(src, dst, src_opts, dst_opts)


def _fill_tokens(opts: Options, tokens: Any, given: Mapping[str, Any]) -> None:
    for name, modality in zip(TOKEN_OPTION_NAMES, ("image", "audio", "video", "eoc"), strict=True):
        if name not in given:
            opts[name] = getattr(tokens, modality)


# Exceptions a format function may let through on a record of unexpected shape (a list where an
# object was expected, a missing key). They are the record's fault, so they become located errors.
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, ValueError, IndexError)


def convert_one(plan: Plan, record: Any) -> Any:
    try:
        return plan.convert(record)
    except MmloomError:
        raise
    except SHAPE_ERRORS as exc:
        raise shape_error(plan, exc) from exc


def shape_error(plan: Plan, exc: Exception) -> RecordError:
    what = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)
    error = RecordError(f"record has an unexpected shape for {plan.src.name} -> {plan.dst.name}: {what}")
    error.__cause__ = exc
    return error
