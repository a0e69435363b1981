"""The Tokenizer tab's requests to its `TokenizerLab` and the answers' way back to the pages.

One GUI-thread QObject whose @Slot methods receive the lab's signals (the rule for anything a
worker reports, PITFALLS): explanations go to the views, merges and the trained BPE to the
"Watch BPE learn" page, a loaded file or encoding to the pickers, the corpus's tokens to the
window explorer, a vocabulary to its page, a full-pass evaluation's figures beside its button.
`page_work(page)` starts what the page in sight needs and does not have yet. Left out: the
widgets (the pages) and the work itself (the lab, core).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from gptstudio.core.data import TokenizeProgress
from gptstudio.core.tokenizers import BPETokenizer, MergeEvent, Tokenizer
from gptstudio.core.tokenizers.vocab import Vocabulary
from gptstudio.core.train import Run, list_checkpoints
from gptstudio.core.train.evaluation import FullPassProgress
from gptstudio.ui.services.tokenizers import CorpusTokens, Loaded
from gptstudio.ui.tabs.tokenizer.corpus_prefix import CORPUS_PREFIX_CHARS, corpus_prefix
from gptstudio.ui.tabs.tokenizer.jobs import Explained

if TYPE_CHECKING:
    from gptstudio.core.pipeline import RunEvaluation
    from gptstudio.ui.tabs.tokenizer.tab import TokenizerTab

VOCAB, WINDOWS = 3, 4  # the tab's page indices (tab.py)


class LabWiring(QObject):
    """See the module docstring."""

    def __init__(self, tab: TokenizerTab) -> None:
        super().__init__(tab)
        self.tab, lab = tab, tab.lab
        lab.explained.connect(self._on_explained)
        lab.explain_failed.connect(self._on_explain_failed)
        lab.merges_learned.connect(self._on_merges)
        lab.bpe_trained.connect(self._on_bpe_trained)
        lab.bpe_failed.connect(self._on_bpe_failed)
        lab.loaded.connect(self._on_loaded)
        lab.load_failed.connect(self._on_load_failed)
        lab.corpus_tokens_ready.connect(self._on_corpus_tokens)
        lab.corpus_tokens_progress.connect(self._on_corpus_progress)
        lab.corpus_tokens_failed.connect(self._on_corpus_failed)
        lab.vocabulary_ready.connect(self._on_vocabulary)
        lab.vocabulary_failed.connect(self._on_vocabulary_failed)
        lab.evaluated.connect(self._on_evaluated)
        lab.evaluation_progress.connect(self._on_evaluation_progress)
        lab.evaluation_failed.connect(self._on_evaluation_failed)
        tab.choices.load_requested.connect(lab.load)
        bpe = tab.bpe_page
        bpe.train_requested.connect(self.train_bpe)
        bpe.cancel_requested.connect(lab.cancel_bpe)
        bpe.save_requested.connect(self._on_save_requested)
        bpe.use_requested.connect(self._on_use_requested)
        windows = tab.windows_page
        windows.evaluate_requested.connect(self.evaluate)
        windows.cancel_requested.connect(lab.cancel_evaluation)

    def page_work(self, page: int) -> None:
        """Start the background work the page in sight needs (a vocabulary, the corpus's
        tokens), unless it has it already."""
        tab = self.tab
        tokenizer = tab.choice.tokenizer()
        if page == VOCAB and tab.vocab_page.needs(tokenizer):
            tab.vocab_page.set_loading(tokenizer)
            tab.lab.list_vocabulary(tokenizer)
        corpus = tab.session.data.corpus
        if page == WINDOWS and tab.windows_page.needs(tokenizer, corpus):
            tab.windows_page.set_loading(f"Tokenizing the corpus with {tokenizer.name}…")
            tab.lab.tokenize_corpus(corpus, tokenizer)

    # -- requests ------------------------------------------------------------------------------
    @Slot(int, str)
    def train_bpe(self, vocab_size: int, pattern: str) -> None:
        corpus, page = self.tab.session.data.corpus, self.tab.bpe_page
        if corpus is None:
            page.error.show_error("Choose a corpus first (Setup tab): the BPE learns from it.")
            return
        text, cut = corpus_prefix(corpus)  # the lab learns from at most the first million
        if self.tab.lab.train_bpe(text, vocab_size, pattern):
            page.set_training(True, vocab_size)
            if cut:  # say so: the merges are those of that part only
                page.progress.setFormat(f"Counting words in the corpus's first "
                                        f"{CORPUS_PREFIX_CHARS:,} characters…")

    @Slot(int)
    def evaluate(self, stride: int) -> None:
        tab, page = self.tab, self.tab.windows_page
        run_dir = tab.session.runs.current_dir
        if tab.session.training.state.is_running:
            page.eval_result.setText("Wait until the training has stopped: both need the CPU.")
            return
        if run_dir is None or not Run.exists(run_dir) or \
                not list_checkpoints(Run.open(run_dir).checkpoints_dir):
            page.eval_result.setText("There is no run with a checkpoint yet: train one, or open "
                                     "a run (File › Open run…).")
            return
        page.set_evaluating(True)
        page.eval_result.setText(f"Evaluating {run_dir.name} with stride {stride}…")
        tab.lab.evaluate(run_dir, stride)

    @Slot(str)
    def _on_save_requested(self, path: str) -> None:
        self.tab.save_trained(path)

    @Slot()
    def _on_use_requested(self) -> None:
        tokenizer = self.tab.bpe_page.trained
        if tokenizer is None:
            return
        folder = self.tab.session.runs.root / "tokenizers"
        name = f"bpe-{tokenizer.vocab_size}-{tokenizer.pattern}-{tokenizer.fingerprint()[:8]}"
        self.tab.save_trained(folder / f"{name}.json", use=True)

    # -- answers -------------------------------------------------------------------------------
    @Slot(object)
    def _on_explained(self, explained: Explained) -> None:
        self.tab.show_results(explained)

    @Slot(str)
    def _on_explain_failed(self, message: str) -> None:
        if message:
            self.tab.error.show_error(message)

    @Slot(object)
    def _on_merges(self, events: tuple[MergeEvent, ...]) -> None:
        self.tab.bpe_page.add_merges(events)

    @Slot(object)
    def _on_bpe_trained(self, tokenizer: BPETokenizer) -> None:
        self.tab.bpe_page.finish(tokenizer)
        self.tab.on_trained(tokenizer)
        self.tab.schedule()

    @Slot(str)
    def _on_bpe_failed(self, message: str) -> None:
        self.tab.bpe_page.finish(None, message)

    @Slot(object)
    def _on_loaded(self, loaded: Loaded) -> None:
        self.tab.on_loaded(loaded)

    @Slot(str, str)
    def _on_load_failed(self, key: str, message: str) -> None:
        self.tab.choices.load_failed(key, message)

    @Slot(object)
    def _on_corpus_tokens(self, corpus_tokens: CorpusTokens) -> None:
        if corpus_tokens.tokenizer is self.tab.choice.tokenizer():
            self.tab.windows_page.show_tokens(corpus_tokens)

    @Slot(object)
    def _on_corpus_progress(self, progress: TokenizeProgress) -> None:
        share = progress.done_chars / max(1, progress.total_chars)
        self.tab.windows_page.stats.setText(f"Tokenizing the corpus… {share:.0%}")

    @Slot(str)
    def _on_corpus_failed(self, message: str) -> None:
        self.tab.windows_page.set_loading("")
        self.tab.windows_page.error.show_error(message or None)

    @Slot(object)
    def _on_vocabulary(self, answer: tuple[Tokenizer, Vocabulary]) -> None:
        self.tab.vocab_page.show_vocabulary(*answer)

    @Slot(str)
    def _on_vocabulary_failed(self, message: str) -> None:
        self.tab.vocab_page.count.setText(message)

    @Slot(object)
    def _on_evaluated(self, result: RunEvaluation) -> None:
        page = self.tab.windows_page
        page.set_evaluating(False)
        page.eval_result.setText(
            f"{result.split} split, full pass with stride {result.stride}: loss "
            f"{result.loss:.4f} · perplexity {result.perplexity:.2f} · {result.bits_per_byte:.3f}"
            f" bits per byte, over {result.n_scored:,} of {result.n_tokens:,} tokens")

    @Slot(object)
    def _on_evaluation_progress(self, progress: object) -> None:
        page = self.tab.windows_page
        if isinstance(progress, FullPassProgress):
            page.eval_progress.setRange(0, progress.total_windows)
            page.eval_progress.setValue(progress.done_windows)

    @Slot(str)
    def _on_evaluation_failed(self, message: str) -> None:
        page = self.tab.windows_page
        page.set_evaluating(False)
        page.eval_result.setText(message or "Evaluation cancelled.")
