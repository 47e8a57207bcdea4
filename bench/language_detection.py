"""Measure the question-language detection (docchat/language/detect.py) on real sentences.

The sentences are the messages of the gettext catalogues installed on this machine
(/usr/share/locale/{nl,fr,de}/LC_MESSAGES/*.mo, as Debian ships them): each catalogue that all
three languages have gives up to four messages of 5-25 words that read as a sentence (a capital
first, a full stop or question mark last, no format codes), chosen by the hash of the English
text, with their Dutch, French and German translations.  Then the English questions of the
handbook sets, which must all be English or placed nowhere (those take their passages' language).

    python bench/language_detection.py            # the table
    python bench/language_detection.py --wrong    # and every sentence placed wrong
"""

from __future__ import annotations

import gettext
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docchat.language.detect import CONFIDENT, detect  # noqa: E402

LOCALE = Path("/usr/share/locale")
LANGUAGES = ("nl", "fr", "de")
PER_CATALOGUE = 4
QUESTION_SETS = (
    "tests/data/handbook-qa.jsonl",
    "tests/data/handbook-answers.jsonl",
    "bench/data/calibration-qa.jsonl",
    "bench/data/holdout-qa.jsonl",
    "bench/data/holdout2-qa.jsonl",
)
_SENTENCE = re.compile(r"[A-Z][^%{}<>\\_=/|]*[.?]")


def _catalogue(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        found = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str) and v}


def sentences() -> list[dict[str, str]]:
    """Messages in English and their translations (language code → text)."""
    names = set.intersection(
        *({p.name for p in (LOCALE / lang / "LC_MESSAGES").glob("*.mo")} for lang in LANGUAGES)
    )
    rows = []
    for name in sorted(names):
        found = {lang: _catalogue(LOCALE / lang / "LC_MESSAGES" / name) for lang in LANGUAGES}
        picked = [
            key
            for key in found["nl"]
            if _SENTENCE.fullmatch(" ".join(key.split()))
            and 5 <= len(key.split()) <= 25
            and all(key in found[lang] for lang in LANGUAGES)
        ]
        picked.sort(key=lambda k: hashlib.sha1(k.encode()).hexdigest())
        for key in picked[:PER_CATALOGUE]:
            row = {"en": " ".join(key.split())}
            row.update({lang: " ".join(found[lang][key].split()) for lang in LANGUAGES})
            rows.append(row)
    return rows


def main() -> None:
    rows = sentences()
    detect("warm-up: loads the classifier")
    print(f"{len(rows)} messages a language; taken from py3langid at p >= {CONFIDENT}\n")
    print(f"{'language':10} {'right':>6} {'nowhere':>8} {'wrong':>6}")
    started, calls = time.perf_counter(), 0
    wrong: list[tuple[str, str | None, str]] = []
    for lang in ("en", *LANGUAGES):
        placed = [(detect(r[lang]), r[lang]) for r in rows]
        calls += len(placed)
        counts = Counter(
            "right" if c == lang else "nowhere" if c is None else "wrong" for c, _ in placed
        )
        wrong.extend((lang, c, text) for c, text in placed if c not in (lang, None))
        print(f"{lang:10} {counts['right']:>6} {counts['nowhere']:>8} {counts['wrong']:>6}")
    ms = (time.perf_counter() - started) * 1000 / calls
    questions = [
        json.loads(line)["question"]
        for name in QUESTION_SETS
        for line in (ROOT / name).read_text().splitlines()
        if line.strip()
    ]
    found = Counter(detect(q) for q in questions)
    print(f"\nhandbook questions ({len(questions)}): {dict(found)}")
    print(f"{ms:.2f} ms a message")
    if "--wrong" in sys.argv:
        for lang, code, text in wrong:
            print(f"{lang} -> {code}: {text}")


if __name__ == "__main__":
    main()
