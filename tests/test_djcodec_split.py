"""Data-Juicer text is cut into pieces by splitting at role markers first, then at media tokens;
that reads every text exactly as the one left-to-right pattern of tokens and markers does (which
stays the reader for tokens holding "[", where the two could disagree)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mmloom import djcodec
from mmloom.model import Chunk, Tokens

FRAGMENTS = ["[[", "]]", ":", " ", "a", "h", "<image>", "<img", "<", "[[human]]: ", "[[gpt]]:", "[[x]]",
             "<__dj__audio>", "[", "]", "猫", "<<image>>", "img", "x[", "<image", "image>", "<|__dj__eoc|>",
             "EOC", "\n"]
TOKEN_SETS = [Tokens(image="<image>"), Tokens(), Tokens(image="<img", audio="<image>"),
              Tokens(image="[[a]]", video="[["), Tokens(image="<image>", audio="<image>"),
              Tokens(image="a", audio="aa", video=""), Tokens(image="x[", audio="", video=""),
              Tokens(image="", audio="", video=""), Tokens(image="<image>", audio="image>", video="<"),
              Tokens(image="<image>", eoc="EOC"), Tokens(image="a", audio="<image>", video="x[", eoc="")]


def _one_pattern_text(text: str, tokens: Tokens) -> list[Chunk]:
    parts = text.split(tokens.eoc) if tokens.eoc else [text]
    chunks = [Chunk(djcodec._parse_pieces_one_pattern(p, tokens), closed=True) for p in parts[:-1]]
    if parts[-1]:
        chunks.append(Chunk(djcodec._parse_pieces_one_pattern(parts[-1], tokens), closed=False))
    return chunks


@settings(max_examples=200, deadline=None)
@given(fragments=st.lists(st.sampled_from(FRAGMENTS), max_size=16), tokens=st.sampled_from(TOKEN_SETS))
def test_split_reading_equals_the_one_pattern_reading(fragments: list[str], tokens: Tokens) -> None:
    text = "".join(fragments)
    assert djcodec.parse_pieces(text, tokens) == djcodec._parse_pieces_one_pattern(text, tokens)
    assert djcodec.parse_text(text, tokens) == _one_pattern_text(text, tokens)
