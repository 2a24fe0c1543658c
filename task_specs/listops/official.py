"""ListOps in the official release layout: ``basic_{train,val,test}.tsv``.

Tab separated, header ``Source<TAB>Target``, CRLF line ends (Python's csv default, as the original
generator writes). ``Source`` is the fully parenthesised form, e.g. ``( ( ( [MAX 2 ) 9 ) ] )``;
``Target`` the value 0-9. LRA's input pipeline turns a source into tokens by renaming ``]`` to ``X``
and deleting ``(`` and ``)``; :func:`tokenize` does the same, and :func:`to_source` inverts it, so the
release files and our generator go through one reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from lra_core.errors import UserError
from lra_core.io import write_text_atomic

from .generator import CLOSE_ID, OP_BASE, TOKEN_IDS, VOCABULARY, Trees

SPLIT_FILES = {"train": "basic_train.tsv", "validation": "basic_val.tsv", "test": "basic_test.tsv"}
HEADER = "Source\tTarget"


def tokenize(source: str) -> list[str]:
    """LRA's fixed pipeline: ``]`` -> ``X``, parentheses dropped, split on whitespace."""
    return source.replace("]", "X").replace("(", " ").replace(")", " ").split()


def encode(source: str) -> np.ndarray:
    """Token ids of a source string; raises KeyError on a token outside the vocabulary."""
    return np.fromiter((TOKEN_IDS[t] for t in tokenize(source)), dtype=np.uint8)


def to_source(ids: np.ndarray) -> str:
    """The parenthesised source form of a token-id sequence (inverse of :func:`tokenize`).

    The original stores an operator node with children c1..cn as ``((((op, c1), c2), ...), END)`` and
    prints each pair as ``( left right )``: ``( `` * (n + 1), the operator, then `` c_i )`` for every
    child, then `` ] )``.
    """
    return _render([int(i) for i in ids])


def _render(ids: list[int]) -> str:
    parts: list[str] = []
    stack: list[int] = []  # open operators
    counts: dict[int, int] = {}  # children per operator position
    st: list[int] = []
    for pos, t in enumerate(ids):
        if st and t != CLOSE_ID:
            counts[st[-1]] += 1
        if OP_BASE <= t < OP_BASE + 4:
            st.append(pos)
            counts[pos] = 0
        elif t == CLOSE_ID:
            st.pop()
    for pos, t in enumerate(ids):
        if OP_BASE <= t < OP_BASE + 4:
            parts.append("( " * (counts[pos] + 1) + VOCABULARY[t])
            stack.append(pos)
        elif t == CLOSE_ID:
            stack.pop()
            parts.append("] )")
            if stack:
                parts.append(")")  # this operator was a child: close its pair
        else:
            parts.append(VOCABULARY[t])
            if stack:
                parts.append(")")
    return " ".join(parts)


def export(trees_by_split: dict[str, tuple[list[np.ndarray], list[int]]], directory: Path) -> list[Path]:
    """Write ``basic_{train,val,test}.tsv`` (CRLF, header) from token-id sequences and labels."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for split, (seqs, labels) in trees_by_split.items():
        lines = [HEADER] + [f"{to_source(s)}\t{int(y)}" for s, y in zip(seqs, labels)]
        path = directory / SPLIT_FILES[split]
        write_text_atomic(path, "\r\n".join(lines) + "\r\n")
        written.append(path)
    return written


def read_split(path: Path) -> Trees:
    """Read one official TSV; a malformed row is a UserError naming the file and the row."""
    path = Path(path)
    tokens: list[np.ndarray] = []
    labels: list[int] = []
    try:
        lines = _lines(path)
        header = next(lines, None)
        if header is None or header.strip() != HEADER:
            raise UserError(f"{path}: row 1: expected the header 'Source<TAB>Target', got {str(header)[:40]!r}")
        for row, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise UserError(f"{path}: row {row}: expected 2 tab-separated fields, got {len(fields)} (truncated or corrupt file?)")
            source, target = fields
            try:
                ids = encode(source)
            except KeyError as e:
                raise UserError(f"{path}: row {row}: unknown token {e.args[0]!r} in Source") from None
            try:
                label = int(target.strip())
            except ValueError:
                raise UserError(f"{path}: row {row}: Target {target.strip()[:20]!r} is not an integer") from None
            if not 0 <= label <= 9:
                raise UserError(f"{path}: row {row}: Target {label} is outside 0-9")
            if len(ids) == 0:
                raise UserError(f"{path}: row {row}: empty Source")
            tokens.append(ids)
            labels.append(label)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); is this a ListOps TSV?") from None
    offsets = np.zeros(len(tokens) + 1, np.int64)
    np.cumsum([len(t) for t in tokens], out=offsets[1:])
    flat = np.concatenate(tokens) if tokens else np.zeros(0, np.uint8)
    return Trees(flat, offsets, np.asarray(labels, np.int8), np.zeros(len(labels), np.int8))


def _lines(path: Path) -> Iterator[str]:
    # newline="" keeps CRLF/LF handling to us: strip either ending.
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            yield line.rstrip("\r\n")
