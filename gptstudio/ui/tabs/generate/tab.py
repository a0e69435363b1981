"""The Generate tab: stream text from a model, see every choice it makes, compare, score, chat.

The model is chosen in `checkpointSelector` (the inference service's sources: the live run's
latest weight snapshot while training, the current or opened run's checkpoints; an imported
GPT-2 or a fine-tuned run once opened with "Open run…"). All model work runs in the service's
stream worker (`InferenceService.streams`) as the jobs of `jobs.py`: never in the GUI thread,
and never on the training thread's tensors. Tokens arrive in batches (at most ~30 a second, the
worker coalesces them) and each batch is appended in one go, so the window stays fluid however
fast the model is, and an idle tab wakes the GUI thread for nothing. Stop sets the worker's
cancel event (checked before every token) and the tab shows nothing that arrives after it.

Pages: Generate (`generate_flow.py`), Compare and How surprised? (`flows.py`), Chat
(`chat_flow.py`). The next-token
chart keeps the logits of the last position it was given and re-shapes them on the GUI thread
when temperature, top-k or top-p move (a softmax over the vocabulary, no forward pass).
Ctrl+Enter runs the current page's action while the focus is inside this tab; elsewhere it
stays the Train tab's Start. Left out: the engine work (`core.generation`, `next_token`,
`scoring`, `chat`), the widgets' insides (their modules).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QTabWidget,
    QVBoxLayout, QWidget,
)

from gptstudio.core.chat import chat_notice, chat_template, is_instruction_tuned
from gptstudio.core.finetune.template import PromptTemplate
from gptstudio.core.train import Run
from gptstudio.ui.services.inference import ModelSource
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.base import Tab
from gptstudio.ui.tabs.generate.chat_page import ChatPage
from gptstudio.ui.tabs.generate.controls import SamplingControls
from gptstudio.ui.tabs.generate.chat_flow import ChatFlow
from gptstudio.ui.tabs.generate.flows import CompareFlow, ScoreFlow
from gptstudio.ui.tabs.generate.generate_flow import GenerateFlow
from gptstudio.ui.tabs.generate.pages import ComparePage, GeneratePage, ScorePage
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.learn_panel import LearnPanel

PROMPT_SETTLE_MS = 350  # after the last keystroke, ask for the next token's distribution


def _source_key(source: ModelSource | None) -> tuple | None:
    return None if source is None else (source.kind, source.path)


def fill_selector(combo: QComboBox, sources: list[ModelSource],
                  wanted: ModelSource | None) -> None:
    """Put `sources` in `combo` (data: the source), selecting `wanted` if it is there."""
    combo.blockSignals(True)
    combo.clear()
    for source in sources:
        combo.addItem(source.label, source)
    keys = [_source_key(s) for s in sources]
    if _source_key(wanted) in keys:
        combo.setCurrentIndex(keys.index(_source_key(wanted)))
    if not sources:
        combo.addItem("No model yet: train one, or open a run")
        combo.setEnabled(False)
    else:
        combo.setEnabled(True)
    combo.blockSignals(False)


class GenerateTab(QWidget, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.streams = session.inference.streams
        self.selector = QComboBox()
        self.selector.setObjectName("checkpointSelector")
        self.selector.setToolTip("The model to generate with: the live weights of the run "
                                 "training now, or a checkpoint")
        self.selector.setMinimumContentsLength(24)
        self.selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.open_run = QPushButton("Open run…")
        self.open_run.setObjectName("generateOpenRunButton")
        self.open_run.setToolTip("Open a run folder (an imported GPT-2, a fine-tuned run, ...)")
        self.model_note = QLabel()
        self.model_note.setObjectName("modelNote")
        self.model_note.setWordWrap(True)
        self.controls = SamplingControls()
        self.generate_page = GeneratePage()
        self.compare_page = ComparePage()
        self.score_page = ScorePage()
        self.chat_page = ChatPage()
        self.pages = QTabWidget()
        self.pages.setObjectName("generatePages")
        for page, title in ((self.generate_page, "Generate"), (self.compare_page, "Compare"),
                            (self.score_page, "How surprised?"), (self.chat_page, "Chat")):
            self.pages.addTab(page, title)
        self.learn = LearnPanel("generate")

        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.selector)
        model_row.addWidget(self.open_run)
        model_row.addWidget(self.model_note, 1)
        body = QWidget()
        main = QVBoxLayout(body)
        main.setContentsMargins(0, 0, 0, 0)
        main.addLayout(model_row)
        main.addWidget(self.controls)
        main.addWidget(self.pages, 1)
        # In a small window the page scrolls instead of forcing the window wider.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.learn)

        self.generate = GenerateFlow(self)
        self.compare = CompareFlow(self)
        self.score = ScoreFlow(self)
        self.chat = ChatFlow(self)
        self._flows = (self.generate, self.compare, self.score, self.chat)
        self.active = None  # the flow whose request is running

        inference = session.inference
        inference.sources_changed.connect(self._on_sources_changed)
        self.streams.progressed.connect(self._on_progressed)
        self.streams.finished.connect(self._on_finished)
        self.streams.failed.connect(self._on_failed)
        self.streams.stopped.connect(self._on_stopped)
        self.selector.currentIndexChanged.connect(self._on_selector_changed)
        self.open_run.clicked.connect(self._on_open_run)
        self.controls.changed.connect(self._on_controls_changed)
        self.generate_page.prompt.textChanged.connect(self._on_prompt_edited)

        self.prompt_timer = QTimer(self)
        self.prompt_timer.setSingleShot(True)
        self.prompt_timer.setInterval(PROMPT_SETTLE_MS)
        self.prompt_timer.timeout.connect(self.generate.request_distribution)
        session.closing.connect(self.prompt_timer.stop)
        session.chat_requested.connect(self._on_chat_requested)
        self._on_sources_changed()

    # -- the model -------------------------------------------------------------------------------
    def source(self) -> ModelSource | None:
        return self.session.inference.source()

    def sources(self) -> list[ModelSource]:
        return self.session.inference.sources()

    def run_data_config(self, source: ModelSource | None) -> dict | None:
        """The data_config of the run `source` belongs to (the current run for live weights)."""
        run_dir = source.run_dir if source is not None else None
        if run_dir is None:
            run_dir = self.session.runs.current_dir
        try:
            return Run.open(run_dir).data_config if run_dir is not None else None
        except Exception:  # noqa: BLE001 - a run folder being written or removed: no facts
            return None

    def chat_setup(self) -> tuple[bool, PromptTemplate | None]:
        """Whether the chosen model was instruction-tuned, and its template (None if not)."""
        config = self.run_data_config(self.source())
        tuned = is_instruction_tuned(config)
        return tuned, chat_template(config) if tuned else None

    @Slot()
    def _on_sources_changed(self) -> None:
        sources = self.sources()
        current = self.source()
        fill_selector(self.selector, sources, current)
        for combo, default in ((self.compare_page.left_model, -1),
                               (self.compare_page.right_model, 0)):
            wanted = combo.currentData() if combo.count() and combo.currentData() else None
            if wanted is None and sources:
                wanted = sources[default]
            fill_selector(combo, sources, wanted)
        tuned, _ = self.chat_setup()
        self.chat_page.notice.setText(chat_notice(tuned))

    @Slot(int)
    def _on_selector_changed(self, index: int) -> None:
        source = self.selector.itemData(index)
        if self.active is not None:  # its answer would mix two models
            self.stop(reason="Stopped: you chose another model, so the result would have "
                             "mixed two of them.")
        self.session.inference.choose(source)
        self.generate.forget_distribution()
        if self.isVisible():
            self.generate.request_distribution()

    @Slot(object)
    def _on_chat_requested(self, _run_dir: object) -> None:
        """The session opened a run to chat with (the Fine-tune tab's button): its latest
        checkpoint, on the Chat page."""
        self.session.inference.choose(None)
        self.pages.setCurrentWidget(self.chat_page)

    @Slot()
    def _on_open_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder",
                                                str(self.session.runs.root))
        if path and self.session.open_run(path):
            self.session.show_tab("generate")

    # -- running jobs ----------------------------------------------------------------------------
    def start(self, flow, job, source: ModelSource | None = None) -> int | None:
        """Run `job` for `flow` (any other flow's job is stopped first); its request id."""
        if self.active is not None and self.active is not flow:
            self.active.on_stopped("Stopped: another request started.")
        self.active = flow
        return self.streams.start(job, source=source, precision=self.controls.precision)

    def stop(self, reason: str = "Stopped.") -> None:
        """Stop whatever runs now; nothing it still sends is shown."""
        flow, self.active = self.active, None
        self.streams.stop()
        if flow is not None:
            flow.on_stopped(reason)

    @Slot(int, object)
    def _on_progressed(self, request: int, value: object) -> None:
        if self.active is not None and self.active.request == request:
            self.active.on_progress(value)

    @Slot(int, object)
    def _on_finished(self, request: int, result: object) -> None:
        flow = self.active
        if flow is not None and flow.request == request:
            self.active = None
            flow.on_finished(result)

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        flow = self.active
        if flow is not None and flow.request == request:
            self.active = None
            flow.on_failed(message)

    @Slot(int)
    def _on_stopped(self, request: int) -> None:
        flow = self.active
        if flow is not None and flow.request == request:
            self.active = None
            flow.on_stopped("Stopped.")

    # -- reacting to the fields ------------------------------------------------------------------
    @Slot()
    def _on_controls_changed(self) -> None:
        self.generate.redraw_distribution()

    @Slot()
    def _on_prompt_edited(self) -> None:
        self.prompt_timer.start()

    # -- Ctrl+Enter inside this tab --------------------------------------------------------------
    @staticmethod
    def _is_run_key(event: QKeyEvent) -> bool:
        return (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier))

    def event(self, event: QEvent) -> bool:
        # Claim Ctrl+Enter before the window's shortcuts see it (the Train tab's Start action
        # has the same keys window-wide): it then arrives here as a key press.
        if event.type() == QEvent.Type.ShortcutOverride and self._is_run_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if self._is_run_key(event):
            event.accept()
            self.run_current_page()
            return
        super().keyPressEvent(event)

    def run_current_page(self) -> None:
        """What Ctrl+Enter does: the current page's main button."""
        flows = {0: self.generate.start, 1: self.compare.start, 2: self.score.start,
                 3: self.chat.send}
        flows[self.pages.currentIndex()]()

    # -- drawing ---------------------------------------------------------------------------------
    @Slot()
    def redraw(self) -> None:
        """Show anything received and not drawn yet (batches are drawn as they come)."""
        for flow in self._flows:
            flow.redraw()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.active is None:
            self.generate.request_distribution(only_if_missing=True)

    def apply_theme(self, theme: PlotTheme) -> None:
        super().apply_theme(theme)
        for view in (self.generate_page.text, self.compare_page.left_text,
                     self.compare_page.right_text, self.score_page.text):
            view.apply_theme(theme)
        self.generate_page.chart.apply_theme(theme)
        self.chat_page.apply_theme(theme)
