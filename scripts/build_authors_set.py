"""Build `resources/finetune/authors.tsv`: who wrote this passage? (a classification demo).

Three public texts, one class each:
  fables       GPT Studio's own fables (resources/corpora/fables, CC0)
  shakespeare  Tiny Shakespeare (public domain; ../shared/data/tinyshakespeare.txt)
  wharton      "The Verdict", Edith Wharton, 1908 (public domain; ../shared/data/the-verdict.txt)
Each text is cut into passages of whole sentences, 60 to 200 characters, never across a
paragraph, a speech or a story; Shakespeare's speaker names are dropped (a name in capitals
would give the answer away) and his verse lines are joined with spaces. The characters are
brought into the fables' own alphabet (";" -> ",", brackets and underscores dropped, "&" ->
"and"; a passage with any other character is skipped), so a character-level base pretrained on
the default corpus can fine-tune on the file too. The same number of passages is drawn from each
text (seeded), so the classes are balanced. The output is the same on every run.

    .venv/bin/python scripts/build_authors_set.py [--shared ../shared/data] [--per-class 150]
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "finetune" / "authors.tsv"
SENTENCE_END = re.compile(r'(?<=[.!?])["\']?\s+')
MIN_CHARS, MAX_CHARS = 60, 200


def alphabet() -> set[str]:
    return set("".join(p.read_text(encoding="utf-8")
                       for p in (ROOT / "resources/corpora/fables").glob("*.txt")))


def normalise(text: str) -> str:
    text = text.replace(";", ",").replace("&", "and")
    text = re.sub(r"[()_]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def passages(paragraphs: list[str], allowed: set[str]) -> list[str]:
    """Consecutive whole sentences of each paragraph, grouped to MIN..MAX characters."""
    out = []
    for paragraph in paragraphs:
        sentences = [s.strip() for s in SENTENCE_END.split(normalise(paragraph)) if s.strip()]
        current = ""
        for sentence in sentences:
            candidate = f"{current} {sentence}".strip()
            if len(candidate) > MAX_CHARS:
                if MIN_CHARS <= len(current):
                    out.append(current)
                current = sentence if len(sentence) <= MAX_CHARS else ""
            else:
                current = candidate
            if len(current) >= MIN_CHARS and current[-1] in ".!?\"'":
                out.append(current)
                current = ""
        if MIN_CHARS <= len(current) <= MAX_CHARS:
            out.append(current)
    return [p for p in out if set(p) <= allowed and "\t" not in p]


def fable_paragraphs() -> list[str]:
    paragraphs = []
    for path in sorted((ROOT / "resources/corpora/fables").glob("*.txt")):
        blocks = [b.strip() for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
        # A title is one short line without a full stop.
        paragraphs += [b for b in blocks if "\n" in b or b.endswith((".", "!", "?", '"'))]
    return paragraphs


def shakespeare_paragraphs(path: Path) -> list[str]:
    speeches = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) >= 2 and lines[0].endswith(":"):
            speeches.append(" ".join(lines[1:]))  # the speaker's name dropped
    return speeches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    allowed = alphabet()
    texts = {
        "fables": passages(fable_paragraphs(), allowed),
        "shakespeare": passages(shakespeare_paragraphs(args.shared / "tinyshakespeare.txt"),
                                allowed),
        "wharton": passages((args.shared / "the-verdict.txt").read_text(encoding="utf-8")
                            .split("\n\n"), allowed),
    }
    n = min(args.per_class, *(len(v) for v in texts.values()))
    rng = random.Random(args.seed)
    rows = [(label, passage) for label, found in texts.items()
            for passage in rng.sample(sorted(set(found)), n)]
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("label\ttext\n" + "".join(f"{a}\t{t}\n" for a, t in rows), encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(rows)} passages, {n} a class "
          f"(found {', '.join(f'{k} {len(v)}' for k, v in texts.items())})")


if __name__ == "__main__":
    main()
