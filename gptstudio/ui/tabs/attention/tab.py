"""The Attention tab: look inside your own model's attention, and watch it form during training.

Two things can be shown, chosen in the Model box:
- a prompt you type, on a model of the inference service (the live weights while a run trains,
  or a checkpoint of the current run): the view is computed in the inference worker
  (`display.summarize(core.attention.inspect_prompt(...))`), never in the GUI thread;
- the probe recorded during training, at the step the slider picks (`RecordTimeline`).
Either way the same widgets draw it: the layers x heads grid, one head's heatmap (pinned beside a
second one to compare two steps or two heads), the token view, the head table and the next-token
bars. The slider is coalesced (at most one redraw per REDRAW_MS), so scrubbing stays fluid while
a run trains. Left out: the widgets' insides and every computation (core).
"""

from __future__ import annotations

import random
from functools import partial
from time import monotonic

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QFileDialog, QSplitter, QVBoxLayout, QWidget

from gptstudio.core.attention import AttentionRecorded, inspect_prompt
from gptstudio.core.corpora.synthetic import TASKS, synthetic_text
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.model import LSTMConfig
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.attention.actions import AttentionActions, write_widget_png
from gptstudio.ui.tabs.attention.controls import RecordControls, StepControls, ViewControls
from gptstudio.ui.tabs.attention.display import RecordTimeline, Shown, summarize
from gptstudio.ui.tabs.attention.recording import RecordingSettings
from gptstudio.ui.tabs.attention.views import AttentionViews
from gptstudio.ui.tabs.base import Tab, TabAction
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.learn_panel import LearnPanel

REDRAW_MS = 50  # scrubbing redraws at most 20 times a second (docs/MEASUREMENTS.md)
LIVE_REFRESH_S = 3.0  # while training, a shown live view asks for fresh weights this often
NO_VIEW = "Type a prompt above to see every head at once."
LSTM_NOTE = ("This run's model is the LSTM baseline: an LSTM reads text through its hidden "
             "state and has no attention to show. Open or train a GPT run.")


def compute_view(model, tokenizer, *, prompt: str, step: int, caption: str, task: str,
                 lens: bool) -> Shown:
    """The inference job (in its worker thread): the view of `prompt`, ready to draw."""
    view = inspect_prompt(model, tokenizer, prompt, step=step, logit_lens=lens)
    return summarize(view, caption, task or None)


def _recorded_label(steps: list[int]) -> str:
    return f"Recorded during training ({len(steps):,} steps)"


class AttentionTab(QWidget, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.mode = "model"  # or "recorded"
        self.timeline = RecordTimeline()
        self._request: int | None = None
        self._asked_weights_at = self._asked_at = -1e9
        self._wanted_index: int | None = None
        self._examples = random.Random(0)

        self.controls = ViewControls()
        self.steps = StepControls()
        self.record = RecordControls()
        self.views = AttentionViews()
        self.learn = LearnPanel("attention")
        self.recording = RecordingSettings(session, self.record, self)
        self.actions = AttentionActions(self)
        self._layout()
        self._connect()
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._on_redraw)
        self._fill_sources()

    def _layout(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.views)
        self.splitter.addWidget(self.learn)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([940, 300])
        self.views.setSizes([380, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.steps)
        layout.addWidget(self.record)

    def _connect(self) -> None:
        c, s, inference = self.controls, self.session, self.session.inference
        c.prompt_submitted.connect(self.ask)
        c.source_chosen.connect(self._on_source_chosen)
        c.task_chosen.connect(self._on_task_chosen)
        c.example_requested.connect(self._on_example)
        c.lens_toggled.connect(self._on_lens)
        c.head_chosen.connect(self.views.select_head)
        self.views.head_selected.connect(c.set_head)
        self.steps.step_moved.connect(self.show_step)
        self.steps.pin_toggled.connect(self.views.set_pinned)
        self.actions.export_heatmap.triggered.connect(self._on_export_heatmap)
        self.actions.export_grid.triggered.connect(self._on_export_grid)
        inference.result_ready.connect(self._on_result)
        inference.failed.connect(self._on_failed)
        inference.sources_changed.connect(self._fill_sources)
        inference.weights_ready.connect(self._on_weights)
        s.training.event_reported.connect(self._on_training_event)
        s.training.run_started.connect(self._on_run_changed)
        s.runs.run_opened.connect(self._on_run_changed)
        s.runs.run_closed.connect(self._on_run_closed)
        s.data.corpus_changed.connect(self._on_corpus_changed)

    def tab_actions(self) -> list[TabAction]:
        return self.actions.entries()

    def apply_theme(self, theme: PlotTheme) -> None:
        super().apply_theme(theme)
        self.views.apply_theme(theme)

    # -- what to show --------------------------------------------------------------------------
    def _model_config(self):
        s = self.session
        if s.training.state.is_running and s.training.current_run is not None:
            return s.training.current_run.model_config
        return s.runs.opened.model_config if s.runs.opened is not None else None

    @Slot(str)
    def ask(self, prompt: str) -> None:
        """Show `prompt` on the chosen model (computed in the inference worker)."""
        self.mode = "model"
        self._select_source_row()
        if isinstance(self._model_config(), LSTMConfig):
            self._say_problem(LSTM_NOTE)
            return
        source = self.session.inference.source()
        if not prompt:
            self._say_problem("Type a prompt to see how the model attends to it.")
            return
        if source is None:
            self._say_problem("There is no model yet: train one, or open a run with a "
                              "checkpoint.")
            return
        if source.kind == "live":
            self._refresh_live_weights()
        self.controls.error.show_error(None)
        self.controls.note.setText(f"Computing the attention of {source.label.lower()}…")
        job = partial(compute_view, prompt=prompt, step=source.step, caption=source.label,
                      task=self.controls.current_task, lens=self.controls.lens.isChecked())
        self._request = self.session.inference.submit(job)
        self._asked_at = monotonic()
        self.steps.show_count(self.timeline.steps)

    def _refresh_live_weights(self) -> None:
        if monotonic() - self._asked_weights_at >= LIVE_REFRESH_S:
            self._asked_weights_at = monotonic()
            self.session.training.request_weights()

    def _say_problem(self, message: str) -> None:
        self.controls.error.show_error(message)
        if self.views.shown is None:
            self.views.clear(message)

    @Slot(int)
    def show_step(self, index: int) -> None:
        """Show the recorded step at `index` of the timeline (coalesced: see the module)."""
        self._wanted_index = index
        if not self._redraw.isActive():
            self._redraw.start()

    @Slot()
    def _on_redraw(self) -> None:
        index, self._wanted_index = self._wanted_index, None
        if index is None or not 0 <= index < len(self.timeline.steps):
            return
        step = self.timeline.steps[index]
        try:
            record = self.timeline.get(step)
        except GPTStudioError as exc:
            self.steps.error.show_error(str(exc))
            return
        self.steps.error.show_error(None)
        self.mode = "recorded"
        self._select_source_row()
        self.steps.show_step(self.timeline.steps, index, record.prompt)
        self._show(summarize(record.view, f"recorded at step {step:,}",
                             self.controls.current_task or None))

    def _show(self, shown: Shown) -> None:
        self.controls.set_shape(shown.n_layer, shown.n_head)
        self.views.draw(shown)
        notes = [f"Showing {shown.caption.lower()}: {len(shown.labels):,} tokens, "
                 f"{shown.n_layer} layers x {shown.n_head} heads.", shown.view.cropped_note(),
                 shown.ideal_note]
        self.controls.note.setText(" ".join(n for n in notes if n))

    @property
    def shown(self) -> Shown | None:
        """The view drawn now (None before the first)."""
        return self.views.shown

    # -- the services' news --------------------------------------------------------------------
    @Slot(int, object)
    def _on_result(self, request: int, result: object) -> None:
        if request == self._request and isinstance(result, Shown) and self.mode == "model":
            self._show(result)

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if request == self._request:
            self.controls.note.setText("")
            self._say_problem(message)

    @Slot(object)
    def _on_weights(self, _snapshot: object) -> None:
        """Fresh live weights: a live view shown here follows them."""
        source = self.session.inference.source()
        if (self.isVisible() and self.mode == "model" and self.views.shown is not None
                and source is not None and source.kind == "live"
                and monotonic() - self._asked_at >= LIVE_REFRESH_S):
            self.ask(self.controls.prompt.text())

    @Slot(object)
    def _on_training_event(self, event: object) -> None:
        if not isinstance(event, AttentionRecorded):
            return
        following = self.steps.slider.value() >= self.steps.slider.maximum()
        had_steps = bool(self.timeline.steps)
        self.timeline.add(event)
        steps = self.timeline.steps
        index = len(steps) - 1 if following else min(self.steps.slider.value(), len(steps) - 1)
        self.steps.set_steps(steps, index)
        if not had_steps:
            self._fill_sources()
        elif self.controls.source.itemData(0) == "recorded":
            self.controls.source.setItemText(0, _recorded_label(steps))
        if self.mode == "recorded" and following and self.isVisible():
            self.show_step(index)
        elif self.mode != "recorded":
            self.steps.show_count(steps)

    @Slot()
    def _on_run_closed(self) -> None:
        self._on_run_changed(None)

    @Slot(object)
    def _on_run_changed(self, info: object) -> None:
        """Another run is current (opened, started, or none): its recording, its models."""
        path = getattr(info, "path", None)
        if path != self.timeline.run_dir:  # what is shown belongs to the run before
            self.views.clear(NO_VIEW)
            self.controls.note.setText("")
        self.timeline.reset(path)
        steps = self.timeline.steps
        self.steps.set_steps(steps, len(steps) - 1)
        self.steps.show_count(steps)
        self._fill_sources()
        if isinstance(self._model_config(), LSTMConfig):
            self.views.clear(LSTM_NOTE)
        elif path is not None and self.controls.prompt.text():
            self.ask(self.controls.prompt.text())
        elif steps:
            self.show_step(len(steps) - 1)  # an opened run replays its recording

    @Slot()
    def _fill_sources(self) -> None:
        box = self.controls.source
        box.blockSignals(True)
        box.clear()
        if self.timeline.steps:
            box.addItem(_recorded_label(self.timeline.steps), "recorded")
        for source in self.session.inference.sources():
            box.addItem(source.label, source)
        box.blockSignals(False)
        self._select_source_row()

    def _select_source_row(self) -> None:
        box = self.controls.source
        wanted = "recorded" if self.mode == "recorded" else self.session.inference.source()
        for row in range(box.count()):
            if box.itemData(row) == wanted:
                box.blockSignals(True)
                box.setCurrentIndex(row)
                box.blockSignals(False)
                return

    @Slot(int)
    def _on_source_chosen(self, row: int) -> None:
        data = self.controls.source.itemData(row)
        if data == "recorded":
            self.show_step(self.steps.slider.value())
        else:
            self.session.inference.choose(data)
            self.ask(self.controls.prompt.text())

    @Slot(object)
    def _on_corpus_changed(self, corpus: object) -> None:
        """A synthetic task's corpus brings its ideal pattern (unless one is chosen)."""
        kind, _, name = str(getattr(corpus, "source", "")).partition(":")
        if kind == "builtin" and name in TASKS and not self.controls.current_task:
            self.controls.set_task(name)

    @Slot(str)
    def _on_task_chosen(self, _task: str) -> None:
        self._reshow()

    @Slot(bool)
    def _on_lens(self, _on: bool) -> None:
        if self.mode == "model":
            self.ask(self.controls.prompt.text())

    def _reshow(self) -> None:
        if self.mode == "recorded":
            self.show_step(self.steps.slider.value())
        elif self.controls.prompt.text():
            self.ask(self.controls.prompt.text())

    @Slot()
    def _on_example(self) -> None:
        task = self.controls.current_task
        if task:
            text = synthetic_text(task, seed=self._examples.randrange(10**6), size=1)
            self.controls.prompt.setText(text.splitlines()[0])
            self.ask(self.controls.prompt.text())

    # -- exports -------------------------------------------------------------------------------
    def export_heatmap_png(self, path: str) -> bool:
        return self.session.report_write(write_widget_png(self.views.heatmap, path),
                                         "the heatmap", path)

    def export_grid_png(self, path: str) -> bool:
        return self.session.report_write(write_widget_png(self.views.grid, path), "the grid", path)


    @Slot()
    def _on_export_heatmap(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export heatmap", "attention-head.png",
                                              "PNG (*.png)")
        if path:
            self.export_heatmap_png(path)

    @Slot()
    def _on_export_grid(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export grid", "attention-grid.png",
                                              "PNG (*.png)")
        if path:
            self.export_grid_png(path)
