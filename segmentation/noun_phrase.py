"""Cut a request ("segment the vase that stands on the table") to the short noun phrase SAM 3 is trained on.

SAM 3 matches concepts named by short noun phrases ("vase", "red car"); a sentence around the phrase only
dilutes its text embedding. The heuristic is deliberately simple and predictable:

1. lower-case, drop trailing punctuation;
2. drop leading request words ("please", "segment", "find", "select", "mask", "show me", ...) and leading
   articles/quantifiers ("the", "a", "an", "all", "every", "each", "of");
3. keep only the text before the first relative clause or separator (" that ", " which ", " who ",
   " whom ", " whose ", " where ", " when ", ",", ";", ":");
4. keep at most MAX_WORDS words.

If nothing is left, the request is used as it is. Questions that need reasoning ("what would people sit
on?") are not noun phrases at all: LISA or the Grounded Segmenter suit them.
"""

import re

MAX_WORDS = 6
REQUEST_WORDS = frozenset({
    "please", "segment", "find", "select", "mask", "masks", "locate", "show", "detect", "highlight",
    "outline", "get", "pick", "identify", "isolate", "cut", "extract", "mark", "me", "out", "us",
})
ARTICLES = frozenset({"the", "a", "an", "all", "every", "each", "any", "of"})
CLAUSE = re.compile(r"\s(?:that|which|who|whom|whose|where|when)\s|[,;:]")


def noun_phrase(query: str) -> str:
    """The short noun phrase of a request; the stripped request itself when nothing is left."""
    text = " ".join(query.split()).strip()
    words = CLAUSE.split(f" {text.lower().rstrip('.!?')} ", maxsplit=1)[0].split()
    while words and (words[0] in REQUEST_WORDS or words[0] in ARTICLES):
        words = words[1:]
    phrase = " ".join(words[:MAX_WORDS])
    return phrase or text
