"""The headless display of preparing a corpus: opening it, learning a tokenizer, tokenizing it.

Before a run trains, a large corpus is read up to three times (checked and measured when it is
opened, scanned for its characters or words when a tokenizer is learnt from it, and encoded into
the token cache); each pass reports plain events, and this display turns them into one line per
stage, shown from the first second: nothing during the display's first second (a small corpus
is ready by then and shows nothing), then a line as soon as a stage starts, and on a terminal
that line redrawn in place at most 10 times a second, in a file or a pipe a line at each tenth
(and every 30 s). BPE merges get a line per tenth whatever their speed. Events are told apart by their class name, so this
module imports nothing of the engine (the tokenizer commands stay free of torch).
Left out: training's own display (`progress.py`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from gptstudio.cli.terminal import LogCadence, is_terminal

MB = 1 << 20
QUIET_SECONDS = 1.0  # the display says nothing before it has existed this long


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB'; 3.2e9 -> '3.0 GB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"  # unreachable


def corpus_display(args: Any, spec: str, vocab_size: int | None = None
                   ) -> CorpusProgress | None:
    """The display for a command's corpus `spec`, or None with `--quiet` (or on the ranks but
    the first of a torchrun job, which would repeat rank 0's lines)."""
    if getattr(args, "quiet", False) or int(os.environ.get("RANK", "0") or 0) != 0:
        return None
    from gptstudio.core.corpora import corpus_label

    return CorpusProgress(corpus_label(spec), vocab_size=vocab_size)


def stopped_early_note(got: int, asked: int) -> str:
    """What to tell when BPE training ran out of pairs before the vocabulary size asked for."""
    return (f"note: BPE training stopped at {got:,} tokens, not the {asked:,} asked for: every "
            "word of the corpus is already a single token, so nothing is left to merge. A "
            "larger vocabulary needs more (or more varied) text.")


class CorpusProgress:
    """A callable taking the corpus and tokenizer events (`ReadProgress`, `DownloadProgress`,
    `CharScanEvent`, `WordCountEvent`, `MergeEvent`, `TokenizeProgress`) and writing to stderr."""

    def __init__(self, name: str = "the corpus", *, stream: TextIO | None = None,
                 vocab_size: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.vocab_size, self.clock = name, vocab_size, clock
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = is_terminal(self.stream)
        self._stage = ""
        self._shown = False
        self._cadence = LogCadence(clock=clock)
        self._created = self._started = self._last_draw = clock()
        self._drawn = False

    def __call__(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "MergeEvent":
            total = max(1, (self.vocab_size or event.index + 1) - 257)
            self._show("merges", event.index + 1, total, self._merge_line(event, total))
            return
        describe = _LINES.get(kind)
        if describe is None:
            return  # an event this display does not know: nothing to say
        stage, done, total, text = describe(self, event)
        self._show(stage, done, total, text)

    def close(self) -> None:
        """End a line drawn in place with its newline."""
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.flush()

    # -- the lines ---------------------------------------------------------------------------
    def _rate(self, done_bytes: int) -> str:
        seconds = self.clock() - self._started
        return f", {done_bytes / MB / seconds:,.1f} MB/s" if seconds > 0.5 and done_bytes else ""

    def _merge_line(self, event: Any, total: int) -> str:
        piece = event.token_bytes.decode("utf-8", errors="replace")
        return (f"merge {event.index + 1}/{total}  {piece!r:<16} x{event.count:<8} "
                f"{event.compression:.2f} bytes/token")

    def _show(self, stage: str, done: int, total: int, text: str) -> None:
        now = self.clock()
        if stage != self._stage:
            self.close()
            self._stage, self._started, self._shown = stage, now, False
            self._cadence = LogCadence(clock=self.clock)
        first = not self._shown
        if first and stage != "merges" and now - self._created < QUIET_SECONDS:
            return  # work over within a second (a small corpus) needs no progress
        first = first and stage != "merges"  # merges: a line per tenth, as ever
        self._shown = True
        finished = total > 0 and done >= total
        if self.interactive:
            if first or finished or now - self._last_draw >= 0.1:
                self._last_draw = now
                self.stream.write("\r\033[K" + text)
                self._drawn = True
                if finished:
                    self.close()
                self.stream.flush()
        elif first or self._cadence.due(done, max(total, 1)):
            self.stream.write(text + "\n")
            self.stream.flush()


def _fraction(done: int, total: int) -> str:
    return f" ({100 * done / total:.0f}%)" if total else ""


def _read_line(display: CorpusProgress, e: Any) -> tuple[str, int, int, str]:
    return ("read", e.done_bytes, e.total_bytes,
            f"opening {display.name}: {human_bytes(e.done_bytes)} of "
            f"{human_bytes(e.total_bytes)} checked{_fraction(e.done_bytes, e.total_bytes)}"
            f"{display._rate(e.done_bytes)}")


def _download_line(display: CorpusProgress, e: Any) -> tuple[str, int, int, str]:
    total = e.total_bytes or 0
    of = f" of {human_bytes(total)}" if total else ""
    return ("download", e.done_bytes, total,
            f"downloading {display.name}: {human_bytes(e.done_bytes)}{of}"
            f"{_fraction(e.done_bytes, total)}")


def _chars_line(display: CorpusProgress, e: Any) -> tuple[str, int, int, str]:
    return ("chars", e.done_chars, e.total_chars,
            f"collecting characters: {e.done_chars:,} of {e.total_chars:,} read"
            f"{_fraction(e.done_chars, e.total_chars)}, {e.n_distinct:,} distinct")


def _words_line(display: CorpusProgress, e: Any) -> tuple[str, int, int, str]:
    sample = f" (a sample: {e.counted_chars:,} characters)" if e.sampled else ""
    return ("words", e.done_chars, e.total_chars,
            f"counting words for BPE{sample}: {e.done_chars:,} of {e.total_chars:,} characters"
            f"{_fraction(e.done_chars, e.total_chars)}, {e.n_words:,} words, "
            f"{e.n_distinct:,} distinct")


def _tokens_line(display: CorpusProgress, e: Any) -> tuple[str, int, int, str]:
    if e.cached:
        return ("tokens-cached", 1, 1, f"{e.n_tokens:,} tokens read from the token cache")
    done, total = (e.done_bytes, e.total_bytes) if e.total_bytes else (e.done_chars,
                                                                        e.total_chars)
    unit = human_bytes if e.total_bytes else (lambda n: f"{n:,} characters")
    return ("tokens", done, total,
            f"tokenizing into the cache: {unit(done)} of {unit(total)}{_fraction(done, total)}, "
            f"{e.n_tokens:,} tokens{display._rate(e.done_bytes)}")


_LINES: dict[str, Callable[[CorpusProgress, Any], tuple[str, int, int, str]]] = {
    "ReadProgress": _read_line,
    "DownloadProgress": _download_line,
    "CharScanEvent": _chars_line,
    "WordCountEvent": _words_line,
    "TokenizeProgress": _tokens_line,
}
