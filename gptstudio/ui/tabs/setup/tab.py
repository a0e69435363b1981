"""The Setup tab: corpus, tokenizer, model and training, and whether Start may be pressed.

Four boxes in a grid. The tab wires them to the data service (which loads corpora and trains
tokenizers in the background) and to each other (the tokenizer sets the model's vocabulary, the
batch size feeds the memory estimate, a preset brings its dropout), and describes the next run
to the training service as a `TrainingPlan` whenever a field changes — with `problems()`, in
words, when Start must wait. It shows an opened run's settings, is locked while a run trains
(all but its learn panel), and remembers its fields between sessions; "Reproduce…" and the
learn panel's try: links fill the boxes (`learn_links.py`). Left out: the boxes' own fields.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, \
    QWidget

from gptstudio.core.corpora import Corpus
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.model import PRESETS, GPTConfig, LSTMConfig
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import TrainConfig
from gptstudio.ui.services.run_files import OpenedRun
from gptstudio.ui.services.state import TrainingState
from gptstudio.ui.services.training import TrainingPlan
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.base import Tab
from gptstudio.ui.tabs.setup.corpus_box import CorpusBox
from gptstudio.ui.tabs.setup.learn_links import SetupLinks
from gptstudio.ui.tabs.setup.model_box import ModelBox
from gptstudio.ui.tabs.setup.tokenizer_box import TokenizerBox
from gptstudio.ui.tabs.setup.training_box import TrainingBox
from gptstudio.ui.widgets.learn_panel import LearnPanel

SAMPLE_CHARS = 20_000  # corpus characters used to show a tokenizer's compression


class SetupTab(QScrollArea, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.corpus_box = CorpusBox()
        self.tokenizer_box = TokenizerBox()
        self.model_box = ModelBox()
        self.training_box = TrainingBox()
        self.run_note = QLabel()  # whose settings these are, while a run is the current one
        self.run_note.setObjectName("runSettingsNote")
        self.run_note.setWordWrap(True)
        self.run_note.hide()
        self.learn = LearnPanel("setup", settings=session.settings)
        self.links = SetupLinks(self)  # the learn panel's try: links, the Reproduce… button
        notes = QVBoxLayout()
        notes.addWidget(self.run_note)
        notes.addWidget(self.links.note)
        top = QHBoxLayout()
        top.addLayout(notes, 1)
        top.addWidget(self.links.button, 0, Qt.AlignmentFlag.AlignTop)
        self.boxes = QWidget()  # locked while training; the learn panel beside it is not
        grid = QGridLayout(self.boxes)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(top, 0, 0, 1, 2)
        grid.addWidget(self.corpus_box, 1, 0)
        grid.addWidget(self.tokenizer_box, 1, 1)
        grid.addWidget(self.model_box, 2, 0)
        grid.addWidget(self.training_box, 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(2, 1)
        page = QWidget()
        row = QHBoxLayout(page)
        row.addWidget(self.boxes, 1)
        row.addWidget(self.learn)
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

        data, cb, tb = session.data, self.corpus_box, self.tokenizer_box
        cb.chosen.connect(self._on_corpus_chosen)
        cb.cancel_requested.connect(data.cancel_corpus_load)
        data.corpus_loading.connect(cb.on_loading)
        data.corpus_loading.connect(self.recheck)
        data.corpus_progress.connect(cb.on_progress)
        data.corpus_changed.connect(self._on_corpus_changed)
        data.corpus_failed.connect(cb.on_failed)
        data.corpus_failed.connect(self.recheck)
        tb.chosen.connect(self._on_tokenizer_chosen)
        tb.train_requested.connect(self._on_train_tokenizer)
        tb.cancel_requested.connect(data.cancel_tokenizer)
        data.tokenizer_training.connect(tb.on_training)
        data.tokenizer_loading.connect(tb.on_loading)
        data.tokenizer_progress.connect(tb.on_progress)
        data.tokenizer_changed.connect(self._on_tokenizer_changed)
        data.tokenizer_failed.connect(tb.on_failed)
        data.tiktoken_checked.connect(tb.on_tiktoken_statuses)
        self.model_box.changed.connect(self.recheck)
        self.model_box.preset_chosen.connect(self._on_preset_chosen)
        self.training_box.changed.connect(self._on_training_changed)
        session.runs.run_opened.connect(self._on_run_opened)
        session.runs.run_closed.connect(self._show_run_locks)
        session.training.state_changed.connect(self._on_state_changed)
        session.training.run_started.connect(self._remember)
        session.closing.connect(self._remember)

        self.restore(session.settings.last_setup())
        self._on_training_changed()

    # -- the answers the training service needs ------------------------------------------------
    def model_config(self) -> GPTConfig | LSTMConfig | None:
        return self.model_box.config()

    def train_config(self) -> TrainConfig | None:
        return self.training_box.config()

    def problems(self) -> list[str]:
        """Why Start cannot be pressed now (empty when it can)."""
        out = []
        data = self.session.data
        if data.is_loading_corpus:
            out.append("The corpus is still loading.")
        elif data.corpus is None:
            out.append("Choose a corpus.")
        if data.tokenizer is None:
            if data.is_preparing_tokenizer:
                out.append("The tokenizer is still being prepared.")
            elif data.tokenizer_spec.startswith("bpe:"):
                out.append("Train the BPE tokenizer first (Setup tab, “Train BPE”).")
            else:
                out.append("Choose a tokenizer.")
        if self.model_box.config() is None:
            out.append(self.model_box.error or "Fix the model settings marked in red.")
        elif self.model_box.estimate is None:
            out.append(self.model_box.error or "The model does not fit in memory.")
        if self.training_box.config() is None:
            out.append("Fix the training settings marked in red.")
        elif data.tokenizer is not None:
            prompt_error = self._prompt_error(data.tokenizer)
            if prompt_error:
                out.append(prompt_error)
        return out

    def _prompt_error(self, tokenizer: Tokenizer) -> str | None:
        """The sample prompt must be readable by the tokenizer (a char vocabulary is small)."""
        config = self.training_box.config()
        assert config is not None
        label = self.training_box.form.errors["sample_prompt"]
        try:
            tokenizer.encode(config.sample_prompt, allowed_special="all")
        except GPTStudioError as exc:
            message = f"The sample prompt cannot be tokenized: {exc}"
            label.show_error(message)
            return message
        label.show_error(None)
        return None

    @Slot()
    def recheck(self, *_: Any) -> None:
        """Describe the next run to the training service (and whether Start may be pressed)."""
        estimate = self.model_box.estimate
        self.session.training.set_plan(TrainingPlan(
            self.model_config(), self.train_config(), tuple(self.problems()),
            estimate.n_params if estimate is not None else None))

    # -- remembering ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"corpus": self.corpus_box.current_spec(), "tokenizer": self.tokenizer_box.state(),
                "model": self.model_box.state(), "training": self.training_box.state()}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back the last session's fields (the corpus is loaded by the window)."""
        if isinstance(state.get("model"), dict):
            self.model_box.restore(state["model"])
        if isinstance(state.get("training"), dict):
            self.training_box.restore(state["training"])
        tok = state.get("tokenizer")
        if isinstance(tok, dict):
            spec = self.tokenizer_box.restore(tok)
            if spec is not None:
                self.session.data.tokenizer_spec = spec

    @Slot()
    def _remember(self, *_: Any) -> None:
        self.session.settings.set_last_setup(self.state())

    # -- slots ---------------------------------------------------------------------------------
    @Slot(object)
    def _on_run_opened(self, opened: OpenedRun) -> None:
        """Show an opened run's settings (an imported run has no training settings of its own:
        the fields keep what is set for the run that will start from its weights)."""
        self.model_box.apply_config(opened.model_config)
        if opened.train_config is not None and not opened.imported:
            self.training_box.apply(opened.train_config,
                                    getattr(opened.model_config, "dropout", None))
        self._show_run_locks()

    @Slot()
    def _show_run_locks(self) -> None:
        """While Start would continue a run (or start from its weights), what it cannot change
        is shown locked: a resumed run keeps its model, tokenizer and corpus; a run from
        imported weights keeps their model and tokenizer. New run frees them all."""
        opened = self.session.runs.opened
        resuming = opened is not None and opened.can_resume
        from_weights = opened is not None and opened.starts_from_weights
        self.model_box.setEnabled(not (resuming or from_weights))
        self.tokenizer_box.setEnabled(not (resuming or from_weights))
        self.corpus_box.setEnabled(not resuming)
        if resuming or from_weights:
            what = ("its model, tokenizer and corpus are fixed; the training settings apply "
                    "from the step it resumes at" if resuming else
                    "the model and tokenizer are the weights'; choose the corpus to train on")
            verb = "resumes" if resuming else "starts a new run from"
            self.run_note.setText(f"<b>Run {opened.path.name}</b>: Start {verb} it, so {what}. "
                                  "<i>New run</i> (Ctrl+N) frees every field.")
        self.run_note.setVisible(resuming or from_weights)

    @Slot(object)
    def _on_state_changed(self, state: TrainingState) -> None:
        self.boxes.setEnabled(state.allows("edit_setup"))
        if not state.is_running:
            self._show_run_locks()  # a stopped or finished run is the one Start resumes
        self.recheck()

    @Slot(str)
    def _on_corpus_chosen(self, spec: str) -> None:
        self.session.data.load_corpus(spec)

    @Slot(object)
    def _on_corpus_changed(self, corpus: Corpus) -> None:
        if self.session.data.corpus_spec:
            self.corpus_box.select_spec(self.session.data.corpus_spec)
        self.corpus_box.on_corpus_changed(corpus)
        self.recheck()

    @Slot(str)
    def _on_tokenizer_chosen(self, spec: str) -> None:
        self.session.data.set_tokenizer(spec)
        self.recheck()

    @Slot(int, str)
    def _on_train_tokenizer(self, vocab_size: int, pattern: str) -> None:
        self.session.data.train_bpe(vocab_size, pattern)
        self.recheck()

    @Slot(object)
    def _on_tokenizer_changed(self, tokenizer: Tokenizer | None) -> None:
        data = self.session.data
        sample = data.corpus.preview(SAMPLE_CHARS) if data.corpus is not None else ""
        opened = self.session.runs.opened
        run_tokenizer = opened is not None and data.tokenizer_spec == str(opened.tokenizer_path)
        self.tokenizer_box.select_spec(data.tokenizer_spec, run_tokenizer=run_tokenizer)
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
        self.model_box.device = self.training_box.texts()["device"]  # whose memory counts
        self.model_box.revalidate()  # emits changed -> recheck
