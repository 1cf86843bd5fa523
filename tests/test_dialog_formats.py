"""The post-tuning dialog formats (alpaca, llama_factory_sharegpt, messages, ms_swift_sharegpt):
lossless round trips through Data-Juicer's dialog record (generated records and the real LLaMA-Factory
demo files), the conversation view other formats read (LLaVA <-> LLaMA-Factory), placeholder
checks, and the Data-Juicer bugs mmloom fixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import GOLDEN, REAL, first_difference, load_records, strict_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmloom
from mmloom.errors import MmloomError, RecordError
from mmloom.formats import registry
from mmloom.model import Media, Role

LF_DIR = REAL / "llama_factory_sharegpt"
LF_DEMOS = sorted(p.name for p in LF_DIR.glob("*.json") if not p.name.startswith("dataset_info"))
TAGS = {"images": "<image>", "videos": "<video>", "audios": "<audio>"}
MESSAGES_AS_LF = {"conversations_key": "messages", "from_key": "role", "value_key": "content"}


def same_key_order(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_key_order(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return all(same_key_order(x, y) for x, y in zip(a, b, strict=False))
    return True


def assert_identical(ours: Any, original: Any) -> None:
    assert strict_equal(ours, original), first_difference(ours, original)
    assert same_key_order(ours, original), (ours, original)


def split_options(fmt: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    f = registry()[fmt]
    read = {o.name for o in f.read_options}
    write = {o.name for o in f.write_options}
    return ({k: v for k, v in options.items() if k in read}, {k: v for k, v in options.items() if k in write})


def through_dj(record: Any, fmt: str, options: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(the Data-Juicer record as a file would hold it, the record converted back)."""
    read, write = split_options(fmt, options or {})
    dj = orjson.loads(orjson.dumps(mmloom.convert_record(record, fmt, "dj", read)))
    return dj, mmloom.convert_record(dj, "dj", fmt, write)


# -- generated records --------------------------------------------------------------------------

AWKWARD = ["", " ", "  lead", "trail  ", "\n", "\r\n", "\t", "中文", "日本語のテキスト", "😀🎉", "\u2028",
           "[[human]]: ", "[[gpt]]:", "<|__dj__eoc|>", "<__dj__image>", "\"quoted\"", "back\\slash", "<imag", "e>"]
plain_text = st.lists(st.one_of(st.sampled_from(AWKWARD).filter(lambda s: "<" not in s),
                                st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<"),
                                        max_size=8)), max_size=4).map("".join)
tagged_text = st.lists(st.one_of(st.sampled_from(AWKWARD), st.sampled_from(list(TAGS.values())),
                                 st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)),
                       max_size=5).map("".join)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
              st.floats(allow_nan=False, allow_infinity=False), plain_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(plain_text, inner, max_size=3)),
    max_leaves=6)
ids = st.one_of(st.integers(-5, 10**12), plain_text, st.just(0))
EXTRA_NAMES = ["id", "tools", "source", "lang", "__dj__meta__", "__dj__stats__", "score", "system", "query",
               "response", "history", "instruction", "category"]
paths = st.sampled_from(["a/1.jpg", "a/2.png", "v/1.mp4", "s/1.wav", "中文/图.jpg", "x y.jpg"])


def tag_counts(value: Any) -> dict[str, int]:
    """Placeholders in every string of a value (the generators keep tags out of other fields)."""
    counts = dict.fromkeys(TAGS, 0)
    if isinstance(value, str):
        for key, tag in TAGS.items():
            counts[key] += value.count(tag)
    elif isinstance(value, (list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            for key, n in tag_counts(item).items():
                counts[key] += n
    return counts


@st.composite
def extras(draw: st.DrawFn, reserved: set[str]) -> dict[str, Any]:
    names = draw(st.lists(st.one_of(st.sampled_from(EXTRA_NAMES), plain_text), max_size=4, unique=True))
    out = {}
    for name in names:
        if name in reserved or name in TAGS or name in ("text", "__mmloom__"):
            continue
        out[name] = draw(ids) if name == "id" else draw(json_values)
    return out


@st.composite
def with_media(draw: st.DrawFn, record: dict[str, Any], mm_candidates: bool) -> tuple[dict[str, Any], list[str]]:
    """Media lists matching the record's placeholders (or, with none, implicit media or none), in
    shuffled key order; returns the record and the keys to pass as multimodal_keys."""
    counts = tag_counts(record)
    mm = []
    for key in TAGS:
        n = counts[key]
        if n:
            record[key] = draw(st.lists(paths, min_size=n, max_size=n))
        elif draw(st.booleans()):
            record[key] = draw(st.lists(paths, max_size=2))
        else:
            continue
        if mm_candidates and draw(st.booleans()):
            mm.append(key)
            if len(record[key]) == 1 and draw(st.booleans()):
                record[key] = record[key][0]  # a bare path, wrapped by multimodal_keys
    keys = draw(st.permutations(list(record)))
    return {k: record[k] for k in keys}, mm


def turn_dict(draw: st.DrawFn, known: dict[str, Any]) -> dict[str, Any]:
    turn = dict(known)
    if draw(st.integers(0, 4)) == 0:
        turn.update(draw(st.dictionaries(st.sampled_from(["loss", "weight", "name", "中"]), json_values, max_size=2)))
        order = draw(st.permutations(list(turn)))
        turn = {k: turn[k] for k in order}
    return turn


@st.composite
def conversation_records(draw: st.DrawFn, layout: str) -> tuple[dict[str, Any], dict[str, Any]]:
    custom = draw(st.booleans())
    if layout == "messages":
        names = {"messages_key": "chat", "role_key": "speaker", "content_key": "text"} if custom else {}
        ck, fk, vk = names.get("messages_key", "messages"), names.get("role_key", "role"), names.get("content_key",
                                                                                                      "content")
    else:
        names = {"conversations_key": "dialog", "from_key": "speaker", "value_key": "say"} if custom else {}
        ck, fk, vk = (names.get("conversations_key", "conversations"), names.get("from_key", "from"),
                      names.get("value_key", "value"))
    special = {"system_role": "SYSTEM", "instruction_role": "INS"} if draw(st.booleans()) else {}
    roles = draw(st.lists(st.sampled_from(["human", "gpt", "user", "assistant", "function_call", "observation",
                                           "system ", "x y"]), max_size=7))
    for role in (special.get("system_role", "system"), special.get("instruction_role", "instruction")):
        if draw(st.booleans()):
            roles.insert(draw(st.integers(0, len(roles))), role)
    turns = [turn_dict(draw, {fk: role, vk: draw(tagged_text)}) for role in roles]
    record = {ck: turns, **draw(extras({ck}))}
    if draw(st.integers(0, 3)) == 0:
        record["system"] = draw(plain_text)  # LLaMA-Factory's system column
    record, mm = draw(with_media(record, mm_candidates=True))
    options = {**names, **special}
    if mm:
        options["multimodal_keys"] = mm if len(mm) > 1 or draw(st.booleans()) else mm[0]
    return record, options


@st.composite
def alpaca_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {"input_key": "question", "output_key": "answer"} if draw(st.booleans()) else {}
    record: dict[str, Any] = {}
    for key in ("instruction", names.get("input_key", "input"), names.get("output_key", "output"), "system"):
        if draw(st.integers(0, 4)):
            record[key] = draw(tagged_text)
    if draw(st.booleans()):
        record["history"] = draw(st.lists(st.lists(tagged_text, min_size=2, max_size=2), max_size=3))
    record.update(draw(extras(set(record) | set(names.values()) | {"input", "output"})))
    record, mm = draw(with_media(record, mm_candidates=True))
    if mm:
        names["multimodal_keys"] = mm
    return record, names


@st.composite
def swift_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    custom = draw(st.booleans())
    keys = ["turns", "user", "bot", "sys", "ins"] if custom else ["conversation", "human", "assistant", "system",
                                                                  "instruction"]
    ck, hk, ak, sk, ik = keys
    turns = [turn_dict(draw, {hk: draw(tagged_text), ak: draw(tagged_text)}) for _ in range(draw(st.integers(0, 4)))]
    record: dict[str, Any] = {ck: turns}
    for key in (sk, ik):
        if draw(st.booleans()):
            record[key] = draw(st.one_of(tagged_text, st.just("")))
    record.update(draw(extras(set(keys))))
    record, mm = draw(with_media(record, mm_candidates=True))
    options: dict[str, Any] = {}
    if custom:
        options = dict(zip(["conversation_key", "human_key", "assistant_key", "system_key", "instruction_key"],
                           keys, strict=True))
    if mm:
        options["multimodal_keys"] = mm
    return record, options


GENERATORS = {
    "llama_factory_sharegpt": conversation_records("llama_factory_sharegpt"),
    "messages": conversation_records("messages"),
    "alpaca": alpaca_records(),
    "ms_swift_sharegpt": swift_records(),
}
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("fmt", list(GENERATORS))
@HYPOTHESIS
@given(data=st.data())
def test_generated_records_come_back_identical(fmt: str, data: st.DataObject) -> None:
    record, options = data.draw(GENERATORS[fmt])
    dj, back = through_dj(record, fmt, options)
    assert_identical(back, record)
    # without the carry, the Data-Juicer record is the same but for the reserved key
    read, _ = split_options(fmt, options)
    bare = mmloom.convert_record(record, fmt, "dj", {**read, "lossless": False})
    assert "__mmloom__" not in bare
    assert_identical(bare, {k: v for k, v in dj.items() if k != "__mmloom__"})


@pytest.mark.parametrize("fmt", ["llama_factory_sharegpt", "messages"])
@HYPOTHESIS
@given(data=st.data())
def test_conversation_view_places_every_path(fmt: str, data: st.DataObject) -> None:
    """The chunks of a dialog sample hold one media piece per listed path, in list order (tags where
    they are; untagged media at the start of the first human turn, when there is one)."""
    record, options = data.draw(GENERATORS[fmt])
    read, _ = split_options(fmt, options)
    fmt_obj = registry()[fmt]
    from mmloom.options import resolve
    sample = fmt_obj.to_unified(record, resolve(fmt_obj.read_options, read, "test"))
    roles = [p.name for c in sample.chunks for p in c.pieces if isinstance(p, Role)]
    for modality, paths in sample.media.items():
        pieces = sample.media_pieces(modality)
        if "human" in roles or pieces:
            assert [p.path for p in pieces] == paths


# -- the real LLaMA-Factory demo files ----------------------------------------------------------

@pytest.mark.parametrize("name", LF_DEMOS)
@pytest.mark.parametrize("fmt, options", [("messages", {}), ("llama_factory_sharegpt", MESSAGES_AS_LF),
                                          ("messages", {"multimodal_keys": "every media key"})])
def test_real_demo_files_come_back_identical(name: str, fmt: str, options: dict[str, Any], tmp_path: Path) -> None:
    src = LF_DIR / name
    original = json.loads(src.read_text(encoding="utf-8"))
    if "multimodal_keys" in options:  # the oldest demo's single "image" path too
        options = {"multimodal_keys": [k for k in ("images", "videos", "audios", "image") if k in original[0]]}
    read, write = split_options(fmt, options)
    mmloom.convert(src, tmp_path / "dj.jsonl", src=fmt, dst="dj", options=read)
    mmloom.convert(tmp_path / "dj.jsonl", tmp_path / "back.json", src="dj", dst=fmt, options=write)
    assert_identical(load_records(tmp_path / "back.json"), original)


def test_v1_typed_content_is_refused_with_its_field(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as info:
        mmloom.convert(LF_DIR / "v1_multimodal_demo.jsonl", tmp_path / "out.jsonl", src="messages", dst="dj")
    message = str(info.value)
    assert "record 0" in message and "messages[0].content" in message and "must be a string" in message


def _sample(fmt: str, record: dict[str, Any], **options: Any) -> Any:
    from mmloom.options import resolve
    f = registry()[fmt]
    return f.to_unified(record, resolve(f.read_options, options, "test"))


def test_legacy_file_without_placeholders_puts_the_image_in_the_first_user_turn() -> None:
    record = json.loads((LF_DIR / "mllm_demo.v0.7.0_noplaceholder.json").read_text())[0]
    sample = _sample("messages", record)
    pieces = sample.chunks[0].pieces
    assert isinstance(pieces[0], Role) and pieces[0].name == "human"
    assert isinstance(pieces[1], Media) and pieces[1].path == "mllm_demo_data/1.jpg"
    assert pieces[2].text == "Who are they?"
    # the Data-Juicer record keeps the text as it is (no tag added) and LLaVA gets its token
    dj, back = through_dj(record, "messages")
    assert dj["history"][0][0] == "Who are they?" and dj["images"] == ["mllm_demo_data/1.jpg"]
    assert_identical(back, record)
    llava = mmloom.convert_record(record, "messages", "llava")
    assert llava["image"] == "mllm_demo_data/1.jpg"
    assert llava["conversations"][0] == {"from": "human", "value": "<image>Who are they?"}


def test_a_tag_glued_to_the_end_of_a_later_turn_takes_the_next_path() -> None:
    record = {"messages": [{"role": "user", "content": "Who are they?<image>"},
                           {"role": "assistant", "content": "Kane."},
                           {"role": "user", "content": "<image>And now?<image>"},
                           {"role": "assistant", "content": "Gretzka."}],
              "images": ["data/images/1.jpg", "data/images/2.jpg", "data/images/3.jpg"]}
    sample = _sample("messages", record)
    by_turn: list[list[Any]] = []
    for piece in sample.chunks[0].pieces:
        if isinstance(piece, Role):
            by_turn.append([])
        elif isinstance(piece, Media):
            by_turn[-1].append(piece.path)
    assert by_turn == [["data/images/1.jpg"], [], ["data/images/2.jpg", "data/images/3.jpg"], []]
    assert_identical(through_dj(record, "messages")[1], record)


@pytest.mark.parametrize("images, expected", [
    (["a.jpg"], "the conversation has 2 <image> placeholder(s) but 'images' lists 1 path(s)"),
    ("a.jpg", "the conversation has 2 <image> placeholder(s) but the record has no 'images' list"),
])
def test_placeholder_count_must_match_the_list(images: Any, expected: str, tmp_path: Path) -> None:
    records = [{"id": "ok", "conversations": [{"from": "human", "value": "<image>hi"}, {"from": "gpt", "value": "yo"}],
                "images": ["x.jpg"]},
               {"id": "bad-7", "conversations": [{"from": "human", "value": "<image>a<image>"},
                                                  {"from": "gpt", "value": "b"}], "images": images}]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(records))
    with pytest.raises(RecordError) as info:
        mmloom.convert(src, tmp_path / "out.jsonl", src="llama_factory_sharegpt", dst="dj")
    message = str(info.value)
    assert "record 1" in message and "'bad-7'" in message and "field 'images'" in message and expected in message
    assert not (tmp_path / "out.jsonl").exists()


def test_placeholders_are_checked_for_every_modality() -> None:
    record = {"conversation": [{"human": "<video><audio>what?", "assistant": "<audio>"}],
              "videos": ["1.mp4"], "audios": ["1.mp3"]}
    with pytest.raises(RecordError, match="2 <audio> placeholder"):
        mmloom.convert_record(record, "ms_swift_sharegpt", "dj")
    record["audios"].append("2.mp3")
    assert_identical(through_dj(record, "ms_swift_sharegpt")[1], record)


# -- Data-Juicer's bugs, fixed ------------------------------------------------------------------

def test_system_and_instruction_turns() -> None:
    """Data-Juicer pops index 0 then index 1 of the shortened list, so 'INS' stays as the query and
    'Q1' is lost (golden case llama_factory_sharegpt_to_dj/system_and_instruction)."""
    record = load_records(GOLDEN / "llama_factory_sharegpt_to_dj/system_and_instruction.input.json")[0]
    dj = mmloom.convert_record(record, "llama_factory_sharegpt", "dj", {"lossless": False})
    assert_identical(dj, {"system": "SYS", "instruction": "INS", "query": "Q1", "response": "A1", "history": []})
    back = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt", {"human_role": "human", "assistant_role": "gpt"})
    assert_identical(back, record)


def test_falsy_fields_are_kept_unless_asked() -> None:
    dj = {"system": "", "instruction": "", "query": "q", "response": "", "history": [], "id": 0, "images": [],
          "tags": [], "score": 0.0, "flag": False, "note": None}
    lf = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt")
    assert_identical(lf, {"id": 0, "images": [], "tags": [], "score": 0.0, "flag": False, "note": None,
                          "conversations": [{"from": "user", "value": "q"}]})
    lf = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt", {"drop_falsy_fields": True})
    assert_identical(lf, {"conversations": [{"from": "user", "value": "q"}]})
    # empty dialog fields mean "none" in a Data-Juicer dialog: left out, as Data-Juicer does
    alpaca = mmloom.convert_record(dj, "dj", "alpaca")
    assert_identical(alpaca, {"id": 0, "images": [], "tags": [], "score": 0.0, "flag": False, "note": None,
                              "input": "q", "output": ""})
    alpaca = mmloom.convert_record(dj, "dj", "alpaca", {"drop_falsy_fields": True})
    assert_identical(alpaca, {"input": "q", "output": ""})


def test_system_column_becomes_the_system_prompt() -> None:
    record = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
              "system": "Be brief.", "tools": "[]"}
    dj = mmloom.convert_record(record, "llama_factory_sharegpt", "dj", {"lossless": False})
    assert dj["system"] == "Be brief."  # Data-Juicer writes "" here and the prompt is gone
    assert list(dj) == ["system", "tools", "instruction", "query", "response", "history"]
    plain = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt")
    assert plain["conversations"][0] == {"from": "system", "value": "Be brief."}
    assert_identical(through_dj(record, "llama_factory_sharegpt")[1], record)


def test_two_system_turns_are_refused_with_the_field(tmp_path: Path) -> None:
    for first in ("a", ""):
        src = tmp_path / "in.json"
        src.write_text(json.dumps([{"id": 3, "conversations": [
            {"from": "system", "value": first}, {"from": "human", "value": "q"},
            {"from": "system", "value": "b"}, {"from": "gpt", "value": "r"}]}]))
        with pytest.raises(RecordError) as info:
            mmloom.convert(src, tmp_path / "out.jsonl", src="llama_factory_sharegpt", dst="dj")
        assert "record 0" in str(info.value) and "conversations[2].from" in str(info.value)


@pytest.mark.parametrize("fmt, record, field", [
    ("llama_factory_sharegpt", {"conversations": [{"from": "human", "value": 5}]}, "conversations[0].value"),
    ("llama_factory_sharegpt", {"conversations": ["hi"]}, "conversations[0]"),
    ("llama_factory_sharegpt", {"conversations": [{"value": "x"}]}, "conversations[0].from"),
    ("llama_factory_sharegpt", {"conversations": {"from": "human"}}, "conversations"),
    ("ms_swift_sharegpt", {"conversation": [{"human": "q", "assistant": None}]}, "conversation[0].assistant"),
    ("messages", {"messages": [{"role": "user"}]}, "messages[0].content"),
])
def test_malformed_records_name_the_field(fmt: str, record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError) as info:
        mmloom.convert_record(record, fmt, "dj")
    assert info.value.loc.field == field


@pytest.mark.parametrize("dj, field", [
    ({"query": "q", "history": [["only one"]]}, "history[0]"),
    ({"query": "q", "history": "no"}, "history"),
    ({"response": "r", "history": []}, "query"),
])
def test_malformed_dialog_records_name_the_field(dj: dict[str, Any], field: str) -> None:
    for fmt in ("llama_factory_sharegpt", "ms_swift_sharegpt"):
        with pytest.raises(RecordError) as info:
            mmloom.convert_record(dj, "dj", fmt)
        assert info.value.loc.field == field


# -- after Data-Juicer's processing -------------------------------------------------------------

def test_an_edited_dialog_keeps_the_original_layout() -> None:
    record = {"conversations": [{"from": "human", "value": "<image>Who?", "loss": 1},
                                {"from": "gpt", "value": "Kane."},
                                {"from": "human", "value": "Where?"}, {"from": "gpt", "value": "Munich."}],
              "images": ["1.jpg"], "id": 0}
    dj, _ = through_dj(record, "llama_factory_sharegpt")
    dj["query"] = "Where exactly?"
    back = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt")
    expected = json.loads(json.dumps(record))
    expected["conversations"][2]["value"] = "Where exactly?"
    assert_identical(back, expected)
    # a removed round: the turns can no longer be matched to the original ones
    dj["history"] = []
    back = mmloom.convert_record(dj, "dj", "llama_factory_sharegpt", {"human_role": "human", "assistant_role": "gpt"})
    assert back["conversations"] == [{"from": "human", "value": "Where exactly?"}, {"from": "gpt", "value": "Munich."}]
    assert back["id"] == 0 and list(back) == ["conversations", "images", "id"]


def test_swift_empty_conversation_comes_back_empty() -> None:
    record = {"system": "", "conversation": [], "images": []}
    dj, back = through_dj(record, "ms_swift_sharegpt")
    assert_identical(back, record)
    # Data-Juicer's own way back gives one empty turn
    plain = mmloom.convert_record(dj, "dj", "ms_swift_sharegpt", {"lossless": False})
    assert plain["conversation"] == [{"human": "", "assistant": ""}]


# -- conversations across formats ---------------------------------------------------------------

LLAVA_100 = REAL / "llava/llava_instruct_100.json"


def test_llava_to_llama_factory_and_back_is_identical(tmp_path: Path) -> None:
    mmloom.convert(LLAVA_100, tmp_path / "lf.json", src="llava", dst="llama_factory_sharegpt")
    lf = load_records(tmp_path / "lf.json")
    first = lf[0]
    assert list(first) == ["id", "images", "conversations"]
    assert len(first["images"]) == 1 and "<image>" in first["conversations"][0]["value"]
    assert {t["from"] for r in lf for t in r["conversations"]} == {"user", "assistant"}
    mmloom.convert(tmp_path / "lf.json", tmp_path / "back.json", src="llama_factory_sharegpt", dst="llava")
    original = load_records(LLAVA_100)
    back = load_records(tmp_path / "back.json")
    assert strict_equal(back, original), first_difference(back, original)


def test_llava_through_dj_text_to_llama_factory(tmp_path: Path) -> None:
    """A Data-Juicer text record (llava_to_dj's) becomes the same dialog as the LLaVA record itself."""
    mmloom.convert(LLAVA_100, tmp_path / "llava.dj.jsonl", src="llava", dst="dj")
    mmloom.convert(tmp_path / "llava.dj.jsonl", tmp_path / "a.json", src="dj", dst="llama_factory_sharegpt")
    mmloom.convert(LLAVA_100, tmp_path / "b.json", src="llava", dst="llama_factory_sharegpt")
    assert_identical(load_records(tmp_path / "a.json"), load_records(tmp_path / "b.json"))
    for fmt in ("messages", "alpaca", "ms_swift_sharegpt"):
        mmloom.convert(tmp_path / "llava.dj.jsonl", tmp_path / f"{fmt}.json", src="dj", dst=fmt)
    alpaca = load_records(tmp_path / "alpaca.json")[0]
    assert list(alpaca) == ["id", "images", "history", "input", "output"]


def test_llama_factory_demo_to_llava(tmp_path: Path) -> None:
    mmloom.convert(LF_DIR / "mllm_demo.json", tmp_path / "llava.json", src="llama_factory_sharegpt", dst="llava",
                   options=MESSAGES_AS_LF)
    llava = load_records(tmp_path / "llava.json")
    demo = load_records(LF_DIR / "mllm_demo.json")
    assert len(llava) == len(demo)
    for ours, theirs in zip(llava, demo, strict=True):
        assert ours["image"] == theirs["images"][0]
        assert [t["from"] for t in ours["conversations"]] == ["human", "gpt", "human", "gpt"]
        # LLaVA holds one image: dj_to_llava's clean-up drops the later turns' tokens
        assert ours["conversations"][0]["value"] == theirs["messages"][0]["content"]
        assert [t["value"] for t in ours["conversations"][1:]] == [
            m["content"].replace("<image>", "") for m in theirs["messages"][1:]]


def test_dj_dialog_records_convert_to_llava() -> None:
    dj = load_records(GOLDEN / "messages_to_dj/real_mllm_demo.expected.jsonl")[1]
    llava = mmloom.convert_record(dj, "dj", "llava")
    assert llava == {"conversations": [
        {"from": "human", "value": "<image>Who is he?"}, {"from": "gpt", "value": "He's Thomas Muller from Bayern Munich."},
        {"from": "human", "value": "Why is he on the ground?"},
        {"from": "gpt", "value": "Because he's sliding on his knees to celebrate."}], "image": "mllm_demo_data/2.jpg"}


@pytest.mark.parametrize("record", [
    {"query": 5, "history": "not pairs", "images": "a.jpg", "id": 0},
    {"history": [["q", "a", "extra"]], "response": None, "videos": ["v.mp4"]},
    {"system": "", "instruction": "", "query": "<image>", "response": "", "history": [], "images": []},
])
def test_dialog_records_pass_through_dj_unchanged(record: dict[str, Any]) -> None:
    assert_identical(mmloom.convert_record(record, "dj", "dj"), record)


def test_a_bare_media_path_is_a_field_only_in_dialog_records() -> None:
    from mmloom import djcodec
    from mmloom.model import Tokens
    sample = djcodec.to_sample({"query": "q", "images": "a.jpg"}, Tokens())
    assert sample.media == {} and sample.fields["images"] == "a.jpg"
    with pytest.raises(RecordError, match="must be a list of paths"):
        djcodec.to_sample({"text": "<__dj__image>", "images": "a.jpg"}, Tokens())


def test_a_system_prompt_that_is_no_text_is_no_turn() -> None:
    record = {"system": None, "conversation": [{"human": "<image>hi", "assistant": "yo"}], "images": ["a.jpg"]}
    llava = mmloom.convert_record(record, "ms_swift_sharegpt", "llava")
    assert llava == {"conversations": [{"from": "human", "value": "<image>hi"}, {"from": "gpt", "value": "yo"}],
                     "image": "a.jpg"}
    assert_identical(through_dj(record, "ms_swift_sharegpt")[1], record)


def test_text_without_turns_is_refused() -> None:
    with pytest.raises(MmloomError, match="holds no conversation"):
        mmloom.convert_record({"text": "a caption <|__dj__eoc|>", "images": []}, "dj", "llama_factory_sharegpt")


@pytest.mark.parametrize("fmt", ["alpaca", "llama_factory_sharegpt", "messages", "ms_swift_sharegpt"])
def test_plans_pickle_for_worker_processes(fmt: str) -> None:
    import pickle

    from mmloom.engine.convert import make_plan
    for src, dst in ((fmt, "dj"), ("dj", fmt)):
        plan = pickle.loads(pickle.dumps(make_plan(src, dst, {})))
        assert plan.src.name == src and plan.dst.name == dst
    assert "_dialog" not in registry()
