"""Data loaders: every format users have, read into ``list[Example]`` with stable ids."""

from pioneer.data.bio import spans_to_tags, tags_to_spans
from pioneer.data.clinc150 import OOS_LABEL, load_clinc150
from pioneer.data.conll import load_conll
from pioneer.data.dispatch import load_dataset
from pioneer.data.hub import load_hf_dataset
from pioneer.data.sampling import subsample
from pioneer.data.span_json import load_span_json
from pioneer.data.tabular import load_csv, load_jsonl

__all__ = [
    "OOS_LABEL",
    "load_clinc150",
    "load_conll",
    "load_csv",
    "load_dataset",
    "load_hf_dataset",
    "load_jsonl",
    "load_span_json",
    "spans_to_tags",
    "subsample",
    "tags_to_spans",
]
