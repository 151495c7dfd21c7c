"""Human-readable cluster names from class-based TF-IDF keywords (c-TF-IDF, as BERTopic uses).

All texts of one cluster form one document. A term scores ``tf(term, cluster) * log(1 + A / f(term))``, where
``tf`` is the term's share of the cluster's words, ``A`` the mean number of words per cluster and ``f`` the
term's frequency over all clusters: words frequent in one cluster and rare elsewhere win.

>>> docs = [["transfer money to savings", "move money to my savings"], ["what is my balance", "show balance now"]]
>>> ctfidf_keywords(docs, top_k=2)
[['money', 'savings'], ['balance', 'show']]
>>> cluster_name(['money', 'savings'])
'money / savings'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"[a-z0-9][a-z0-9'_-]*[a-z0-9]|[a-z]", re.IGNORECASE)

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just let me more most my myself no nor not now
    of off on once only or other our ours ourselves out over own please same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves i'm i'd i've i'll
    you're can't don't it's what's that's there's let's want need tell know get like
    """.split()
)
"""English function words (plus a few request fillers) that never name a cluster."""


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words or one-letter words."""
    return [w for w in (m.group(0).lower() for m in _TOKEN.finditer(text)) if len(w) > 1 and w not in STOP_WORDS]


def ctfidf_keywords(docs: Sequence[Iterable[str]], top_k: int = 3) -> list[list[str]]:
    """Top ``top_k`` c-TF-IDF terms of each cluster, given each cluster's texts (ties break alphabetically)."""
    counts = [Counter(w for text in texts for w in tokenize(text)) for texts in docs]
    return keywords_from_counts(counts, top_k=top_k)


def keywords_from_counts(counts: Sequence[Counter[str]], top_k: int = 3) -> list[list[str]]:
    """As :func:`ctfidf_keywords`, from per-cluster term counts."""
    totals: Counter[str] = Counter()
    for c in counts:
        totals.update(c)
    sizes = [sum(c.values()) for c in counts]
    avg_words = sum(sizes) / max(len(counts), 1)
    result = []
    for c, size in zip(counts, sizes, strict=True):
        if size == 0:
            result.append([])
            continue
        scored = sorted(c, key=lambda w: (-(c[w] / size) * math.log(1.0 + avg_words / totals[w]), w))
        result.append(scored[:top_k])
    return result


def cluster_name(keywords: Sequence[str], fallback: str = "unnamed") -> str:
    """Keywords joined for display; ``fallback`` when there are none."""
    return " / ".join(keywords) if keywords else fallback
