"""Hypothesis strategies for documents held as aligned image/text slot lists (textbook, OBELICS)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

AWKWARD = st.sampled_from([
    "", " ", "  ", "\n", "\t\r\n", " lead", "trail ", "  both  ", "line\nbreak", "中文 文本，标点。", "🎓🧪 emoji",
    "<__dj__image>", "<|__dj__eoc|>", "a <__dj__image> b", "x<|__dj__eoc|>y", "[[human]]: hi", "[[gpt]]:",
    "<image>", "[[Note]]: ", "||", "ends with sep ", " <__dj__image>", "<__dj__image> ",
])
PLAIN = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
TEXT = st.one_of(AWKWARD, PLAIN, st.lists(st.one_of(AWKWARD, PLAIN), min_size=2, max_size=4).map("".join))

VIDEO_ID = st.sampled_from(["-1uixJ1V-As", "Xb_3-q_Zk0A", "_9kLmN-p2_Q", "abcdefghijk", "--__--__--_"])
KEYFRAME = st.builds(
    lambda root, vid, start, span, n: f"{root}{vid}/{vid}@{start:.1f}_{start + span:.1f}#{n}.jpg",
    st.sampled_from(["/mnt/workspace/zwq_data/interleaved_dataset/dataset_images_interval_7/",
                     "sample_100_images/", "", "/other/root/"]),
    VIDEO_ID, st.integers(0, 5000).map(float), st.integers(0, 300), st.integers(1, 20),
)
OTHER_PATH = st.one_of(
    st.sampled_from(["https://cdn.example.com/a.jpg", "img 1.png", "a/b/c/d.jpg", "<__dj__image>.jpg", "中文.jpg"]),
    PLAIN.filter(bool),
)
IMAGE = st.one_of(KEYFRAME, OTHER_PATH)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | PLAIN,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PLAIN, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def slot_lists(draw: Any, images: st.SearchStrategy[str] = IMAGE, allow_empty_placeholder: bool = True
               ) -> tuple[list[Any], list[Any]]:
    """Aligned (images, texts): exactly one of the two set at each position."""
    kinds = draw(st.lists(st.booleans(), max_size=8))
    placeholder = st.sampled_from([None, ""]) if allow_empty_placeholder else st.just(None)
    image_list, text_list = [], []
    for is_image in kinds:
        if is_image:
            image_list.append(draw(images))
            text_list.append(None)
        else:
            image_list.append(draw(placeholder))
            text_list.append(draw(TEXT))
    return image_list, text_list


def json_text(value: Any, ascii_only: bool = True) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)
