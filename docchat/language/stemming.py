"""Snowball stemmers (the ``snowballstemmer`` package, pure Python) for the lexicons that use one.

A Snowball stemmer object keeps the word it works on in its own fields, so two threads sharing one
(``full_reading`` maps passages on several) would read each other's words: each call holds a
lock, and results are cached, which also makes the lock rare.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import snowballstemmer


def snowball(algorithm: str, *, plural: str = "", verb: str = "") -> Callable[[str], str]:
    """A thread-safe, cached stemmer.  ``plural``: final letters taken off first (French keeps
    "photos" apart from "photo" otherwise); ``verb``: a final letter taken off the stem (Dutch
    keeps "krijgt" apart from "krijgen", "krijg")."""
    stemmer = snowballstemmer.stemmer(algorithm)
    lock = threading.Lock()

    @functools.lru_cache(maxsize=65536)
    def stem(word: str) -> str:
        if plural and len(word) > 3 and word[-1] in plural:
            word = word[:-1]
        with lock:
            result: str = stemmer.stemWord(word)
        if verb and len(result) > 4 and result[-1] in verb:
            result = result[:-1]
        return result

    return stem
