"""The ``mmloom`` command: thin over the Python API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from . import __version__
from .errors import MmloomError
from .formats import registry
from .options import parse_opt_pairs

EPILOG = """\
examples:
  mmloom formats
  mmloom convert examples/llava/llava_instruct_100.json out/llava.dj.jsonl --from llava --to dj
  mmloom convert out/llava.dj.jsonl out/llava.json --from dj --to llava
  mmloom convert mmc4_shards/ mmc4_dj/ --from mmc4 --to dj --workers 2 --on-error skip
  mmloom convert mmc4_shards/ mmc4_dj/ --from mmc4 --to dj --resume
  mmloom convert '/shared/mmc4/docs_shard_*.jsonl' /shared/mmc4-dj/ --from mmc4 --to dj --engine ray --ray-address auto
  mmloom convert data.json data.jsonl --from llava --to mmc4
  mmloom convert pretrain.json pretrain.dj.jsonl --from llava --to dj --opt only_keep_caption=true
  mmloom convert dj.jsonl mmc4.jsonl --from dj --to mmc4 --opt sent_separator='"\\n"'

File types follow the extension (.json array, .jsonl, .parquet, .csv; .gz and .zst compressed);
--input-type / --output-type override it. A directory or glob of shards in gives a directory of
shards out. Run 'mmloom formats' for every format and its options.
"""


def default_cores() -> int:
    from .engine.local import default_workers

    return default_workers()


def _formats_text(verbose: bool = True) -> str:
    lines = []
    for name, fmt in sorted(registry().items()):
        lines.append(f"{name}: {fmt.description}")
        lines.append(f"  modalities: {', '.join(fmt.modalities)}; file types: {', '.join(fmt.file_types)}")
        if verbose:
            for title, opts in (("reading (--from " + name + ")", fmt.read_options),
                                ("writing (--to " + name + ")", fmt.write_options)):
                if not opts:
                    continue
                lines.append(f"  options when {title}:")
                for o in opts:
                    choices = f" [{' | '.join(map(str, o.choices))}]" if o.choices else ""
                    lines.append(f"    {o.name} = {json.dumps(o.default)}{choices}  {o.help}")
            if fmt.example:
                lines.append(f"  example: {fmt.example}")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmloom",
        description="Convert multimodal training data between formats through Data-Juicer's unified "
                    "interleaved format, exactly and in streaming.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"mmloom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser("formats", help="list formats, their modalities, file types and options")
    f.add_argument("--brief", action="store_true", help="names and file types only")

    c = sub.add_parser(
        "convert", help="convert a file or a set of shards from one format to another",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
    )
    c.add_argument("input", help="input file, directory of shards, or glob (quote it)")
    c.add_argument("output", help="output file (or directory, for shards)")
    c.add_argument("--from", dest="src", required=True, metavar="FMT", help="input format (see 'mmloom formats')")
    c.add_argument("--to", dest="dst", required=True, metavar="FMT", help="output format")
    c.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE",
                   help="a format option; VALUE is read as JSON when it parses (false, 3, \"\\n\", null), "
                        "else as a plain string. Repeatable.")
    c.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes that parse, convert and encode (default: the cores, "
                        f"{default_cores()} here); output order is kept")
    c.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine's cores (default); ray: Ray Data tasks, one per shard "
                        "(pip install 'mmloom[ray]')")
    c.add_argument("--ray-address", metavar="ADDR", default=None,
                   help="Ray cluster to run on (default: $RAY_ADDRESS, else a local Ray started for the run)")
    c.add_argument("--resume", action="store_true",
                   help="for a set of shards: skip the shards an interrupted run completed (same options "
                        "needed) and redo the rest")
    c.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="fail: stop at the first bad record (default); skip: go on and write each bad "
                        "record with its reason to OUTPUT.rejects.jsonl")
    c.add_argument("--input-type", choices=("jsonl", "json", "parquet", "csv"), help="override the input file type")
    c.add_argument("--output-type", choices=("jsonl", "json", "parquet", "csv"), help="override the output file type")
    c.add_argument("--quiet", action="store_true", help="no progress and no summary; errors only")

    v = sub.add_parser("verify-md5", help="check a downloaded file against its MD5 checksum "
                                          "(the MIMIC-IT archives' checksums are built in)")
    v.add_argument("file", help="the downloaded file")
    v.add_argument("md5", nargs="?", help="the expected MD5 (default: any published MIMIC-IT archive)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _dispatch(args)
    except MmloomError as exc:
        print(f"mmloom: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mmloom: interrupted; no partial file was kept (for a set of shards, --resume goes on "
              "from where this run stopped)", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"mmloom: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _dispatch(args: Any) -> int:
    if args.command == "formats":
        print(_formats_text(verbose=not args.brief), end="")
        return 0
    if args.command == "convert":
        from .engine.convert import make_plan

        if args.workers is not None and args.workers < 1:
            raise MmloomError("--workers must be at least 1")
        if args.ray_address and args.engine != "ray":
            raise MmloomError("--ray-address goes with --engine ray")
        plan = make_plan(args.src, args.dst, parse_opt_pairs(args.opt))
        common = dict(on_error=args.on_error, quiet=args.quiet, input_type=args.input_type,
                      output_type=args.output_type, resume=args.resume)
        if args.engine == "ray":
            from .engine.ray import run_ray

            report = run_ray(plan, args.input, args.output, address=args.ray_address, workers=args.workers,
                             **common)
        else:
            from .engine.local import run

            report = run(plan, args.input, args.output, workers=args.workers, **common)
        if not args.quiet:
            print(f"mmloom: {report.summary()}", file=sys.stderr)
            for out in report.outputs[:5]:
                print(f"mmloom: wrote {os.path.relpath(out)}", file=sys.stderr)
            if len(report.outputs) > 5:
                print(f"mmloom: ... and {len(report.outputs) - 5} more shards", file=sys.stderr)
        elif report.rejected or report.skipped_by_format:
            print(f"mmloom: {report.rejected + report.skipped_by_format} records rejected, see "
                  f"{', '.join(report.rejects_files)}", file=sys.stderr)
        return 0
    if args.command == "verify-md5":
        from .verify import verify_md5

        ok, message = verify_md5(args.file, args.md5)
        print(f"mmloom: {message}", file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
