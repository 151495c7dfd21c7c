"""CoNLL-style BIO files: one ``token ... TAG`` per line, a blank line between sentences.

The token is the first column and the tag the last, so both the two-column files in ``shared/datasets`` and
the original four-column CoNLL-2003 layout load. Tokens are joined by single spaces into the example text and
each entity becomes a character span over that text. ``-DOCSTART-`` lines are document markers, not sentences.
"""

from __future__ import annotations

from pathlib import Path

from pioneer.data.bio import tags_to_spans
from pioneer.training.base import Example


def sentence_to_example(tokens: list[str], tags: list[str], example_id: str) -> Example:
    """Join ``tokens`` with spaces and turn their BIO ``tags`` into character spans."""
    offsets: list[tuple[int, int]] = []
    position = 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    text = " ".join(tokens)
    return Example(text=text, id=example_id, spans=tuple(tags_to_spans(tags, offsets, text)))


def load_conll(
    path: str | Path, *, id_prefix: str | None = None, limit: int | None = None, delimiter: str | None = None
) -> list[Example]:
    """Read a CoNLL BIO file into entity-extraction examples with ids ``<prefix>:<sentence number>``.

    ``limit`` stops after that many sentences (handy for tests and weak seed models); ``delimiter=None`` splits
    columns on any whitespace.
    """
    path = Path(path)
    prefix = id_prefix or path.stem
    examples: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens and not (len(tokens) == 1 and tokens[0] == "-DOCSTART-"):
            examples.append(sentence_to_example(list(tokens), list(tags), f"{prefix}:{len(examples)}"))
        tokens.clear()
        tags.clear()

    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            columns = line.split(delimiter) if delimiter else line.split()
            if not columns or not line.strip():
                flush()
                if limit is not None and len(examples) >= limit:
                    break
                continue
            if columns[0] == "-DOCSTART-":
                flush()
                continue
            if len(columns) < 2:
                raise ValueError(f"{path}:{line_no + 1}: expected 'token ... TAG', got {line.strip()!r}.")
            tokens.append(columns[0])
            tags.append(columns[-1])
        else:
            flush()
    return examples if limit is None else examples[:limit]
