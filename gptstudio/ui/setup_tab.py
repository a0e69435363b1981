"""The Setup tab: corpus, tokenizer, model and training, and whether Start may be pressed.

Four boxes in a grid; this tab wires them to the Session (which loads corpora and trains
tokenizers in the background) and to each other (the tokenizer sets the model's vocabulary, the
batch size feeds the memory estimate, a preset brings its dropout). `problems()` lists what
blocks Start, in words. Left out: the boxes' own fields (their modules).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QGridLayout, QScrollArea, QWidget

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.model import PRESETS, GPTConfig, LSTMConfig
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train.config import TrainConfig
from gptstudio.ui.corpus_box import CorpusBox
from gptstudio.ui.model_box import ModelBox
from gptstudio.ui.session import Session
from gptstudio.ui.tokenizer_choice import TokenizerChoice
from gptstudio.ui.tokenizer_box import TokenizerBox
from gptstudio.ui.training_box import TrainingBox

SAMPLE_CHARS = 20_000  # corpus characters used to show a tokenizer's compression


class SetupTab(QScrollArea):
    """Emits `start_allowed_changed(allowed, reason)` whenever the answer may have changed."""

    start_allowed_changed = Signal(bool, str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.corpus_box = CorpusBox()
        self.tokenizer_box = TokenizerBox()
        self.model_box = ModelBox()
        self.training_box = TrainingBox()
        page = QWidget()
        grid = QGridLayout(page)
        grid.addWidget(self.corpus_box, 0, 0)
        grid.addWidget(self.tokenizer_box, 0, 1)
        grid.addWidget(self.model_box, 1, 0)
        grid.addWidget(self.training_box, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

        s, cb, tb = session, self.corpus_box, self.tokenizer_box
        cb.chosen.connect(self._on_corpus_chosen)
        cb.cancel_requested.connect(s.cancel_corpus_load)
        s.corpus_loading.connect(cb.on_loading)
        s.corpus_loading.connect(self.recheck)
        s.corpus_progress.connect(cb.on_progress)
        s.corpus_changed.connect(self._on_corpus_changed)
        s.corpus_failed.connect(cb.on_failed)
        s.corpus_failed.connect(self.recheck)
        tb.chosen.connect(self._on_tokenizer_chosen)
        tb.train_requested.connect(self._on_train_tokenizer)
        tb.cancel_requested.connect(s.cancel_tokenizer_training)
        s.tokenizer_training.connect(tb.on_training)
        s.tokenizer_loading.connect(tb.on_loading)
        s.tokenizer_progress.connect(tb.on_progress)
        s.tokenizer_changed.connect(self._on_tokenizer_changed)
        s.tokenizer_failed.connect(tb.on_failed)
        s.tiktoken_checked.connect(tb.on_tiktoken_statuses)
        self.model_box.changed.connect(self.recheck)
        self.model_box.preset_chosen.connect(self._on_preset_chosen)
        self.training_box.changed.connect(self._on_training_changed)
        self._on_training_changed()

    # -- the answers the window needs ------------------------------------------------------------
    def model_config(self) -> GPTConfig | LSTMConfig | None:
        return self.model_box.config()

    def train_config(self) -> TrainConfig | None:
        return self.training_box.config()

    def problems(self) -> list[str]:
        """Why Start cannot be pressed now (empty when it can)."""
        out = []
        s = self.session
        if s.is_loading_corpus():
            out.append("The corpus is still loading.")
        elif s.corpus is None:
            out.append("Choose a corpus.")
        if s.tokenizer is None:
            if s.is_training_tokenizer():
                out.append("The tokenizer is still being prepared.")
            elif s.tokenizer_choice.kind == "bpe":
                out.append("Train the BPE tokenizer first (Setup tab, “Train BPE”).")
            else:
                out.append("Choose a tokenizer.")
        if self.model_box.config() is None:
            out.append(self.model_box.error or "Fix the model settings marked in red.")
        elif self.model_box.estimate is None:
            out.append(self.model_box.error or "The model does not fit in memory.")
        if self.training_box.config() is None:
            out.append("Fix the training settings marked in red.")
        elif s.tokenizer is not None:
            prompt_error = self._prompt_error(s.tokenizer)
            if prompt_error:
                out.append(prompt_error)
        return out

    def _prompt_error(self, tokenizer: Tokenizer) -> str | None:
        """The sample prompt must be readable by the tokenizer (a char vocabulary is small)."""
        prompt = self.training_box.config().sample_prompt
        label = self.training_box.form.errors["sample_prompt"]
        try:
            tokenizer.encode(prompt, allowed_special="all")
        except GPTStudioError as exc:
            message = f"The sample prompt cannot be tokenized: {exc}"
            label.show_error(message)
            return message
        label.show_error(None)
        return None

    def state(self) -> dict[str, Any]:
        return {"corpus": self.corpus_box.current_spec(), "tokenizer": self.tokenizer_box.state(),
                "model": self.model_box.state(), "training": self.training_box.state()}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back the last session's fields (not the corpus: the window decides that)."""
        if isinstance(state.get("model"), dict):
            self.model_box.restore(state["model"])
        if isinstance(state.get("training"), dict):
            self.training_box.restore(state["training"])
        tok = state.get("tokenizer")
        if isinstance(tok, dict) and tok.get("kind") in ("char", "bpe"):
            choice = TokenizerChoice(tok["kind"], int(tok.get("vocab_size", 512)),
                                     str(tok.get("pattern", "gpt2")))
            self.tokenizer_box.select(choice)
            self.session.tokenizer_choice = choice

    def apply_run(self, model_config: Any, train_config: TrainConfig | None) -> None:
        """Show an opened run's settings."""
        if model_config is not None:
            self.model_box.apply_config(model_config)
        if train_config is not None:
            self.training_box.apply(train_config, getattr(model_config, "dropout", None))

    # -- slots -----------------------------------------------------------------------------------
    @Slot(str)
    def _on_corpus_chosen(self, spec: str) -> None:
        self.session.load_corpus(spec)

    @Slot(object)
    def _on_corpus_changed(self, corpus: Any) -> None:
        if self.session.corpus_spec:
            self.corpus_box.select_spec(self.session.corpus_spec)
        self.corpus_box.on_corpus_changed(corpus)
        self.recheck()

    @Slot(object)
    def _on_tokenizer_chosen(self, choice: TokenizerChoice) -> None:
        self.session.set_tokenizer(choice)
        self.recheck()

    @Slot(int, str)
    def _on_train_tokenizer(self, vocab_size: int, pattern: str) -> None:
        self.session.train_bpe(vocab_size, pattern)
        self.recheck()

    @Slot(object)
    def _on_tokenizer_changed(self, tokenizer: Tokenizer | None) -> None:
        corpus = self.session.corpus
        sample = corpus.preview(SAMPLE_CHARS) if corpus is not None else ""
        self.tokenizer_box.select(self.session.tokenizer_choice)
        try:
            self.tokenizer_box.show_tokenizer(tokenizer, sample)
        except GPTStudioError as exc:  # e.g. a loaded tokenizer that cannot read this corpus
            self.tokenizer_box.on_failed(str(exc))
        self.model_box.set_vocab_size(tokenizer.vocab_size if tokenizer else None)
        self.recheck()

    @Slot(str)
    def _on_preset_chosen(self, name: str) -> None:
        self.training_box.set_dropout(PRESETS[name].dropout)

    @Slot()
    def _on_training_changed(self) -> None:
        batch = self.training_box.batch_size()
        if batch and batch > 0:
            self.model_box.batch_size = batch
        if self.training_box.dropout is not None:
            self.model_box.dropout = self.training_box.dropout
        self.model_box.revalidate()  # emits changed -> recheck

    @Slot()
    def recheck(self, *_: Any) -> None:
        """Tell the window whether Start may be pressed now, and if not, why."""
        problems = self.problems()
        self.start_allowed_changed.emit(not problems, " ".join(problems))
