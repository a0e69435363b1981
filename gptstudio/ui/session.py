"""The Session: one window's services, and the few requests that span them.

It holds the data, runs, training and inference services (each owns its state and workers) and
the app's settings. Tabs get the session, subscribe to the services they need and call them;
a tab never talks to another tab or to a worker. Cross-tab requests go through here too:
`show_tab(key)` asks the window to bring a tab forward, `open_path` opens a dropped or
command-line path as a corpus or a run. Every error a service reports is relayed as
`error_raised(title, message)`, so the window shows each one the same way.
Left out: widgets, and every piece of engine work (gptstudio.core).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gptstudio.core.train import Run
from gptstudio.ui.services.data import DataService
from gptstudio.ui.services.inference import InferenceService
from gptstudio.ui.services.runs import RunsService
from gptstudio.ui.services.training import TrainingService
from gptstudio.ui.settings import AppSettings


class Session(QObject):
    """The services of one GPT Studio window; see the module docstring."""

    error_raised = Signal(str, str)  # title, message: the window shows a dialog
    status_message = Signal(str)  # a sentence for the status bar
    tab_requested = Signal(str)  # a tab's key (see tabs.TABS)
    closing = Signal()  # the window closes: tabs save what they remember
    chat_requested = Signal(object)  # a run folder: the Generate tab opens its chat page
    reference_requested = Signal(object)  # a published ReferenceCurve for the loss plot, or None

    def __init__(self, parent: QObject | None = None, *, runs_root: Path | None = None,
                 settings: AppSettings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else AppSettings()
        self.data = DataService(self)
        self.runs = RunsService(self.data, self.settings, runs_root, self)
        self.training = TrainingService(self.data, self.runs, self)
        self.inference = InferenceService(self.training, self.runs, self)
        for service in (self.data, self.runs, self.training):
            service.error_raised.connect(self.error_raised)  # signal-to-signal relays
        self.training.status_message.connect(self.status_message)
        self.runs.status_message.connect(self.status_message)
        self.inference.status_message.connect(self.status_message)
        self.closed = False

    def show_tab(self, key: str) -> None:
        self.tab_requested.emit(key)

    def show_reference(self, curve: object | None) -> None:
        """Draw a published run's losses (core/train/book.py) over the Train tab's curves."""
        self.reference_requested.emit(curve)

    def say(self, message: str) -> None:
        """A short message in the status bar."""
        self.status_message.emit(message)

    def report_write(self, ok: bool, what: str, path: str) -> bool:
        """Say that `what` was written to `path`, or show why not; returns `ok`."""
        if ok:
            self.say(f"{what.capitalize()} written to {path}")
        else:
            self.error_raised.emit(f"Cannot export {what}", f"Cannot write {path}.")
        return ok

    # -- requests that span services -----------------------------------------------------------
    def open_path(self, path: str | Path) -> None:
        """A dropped or command-line path: a run folder opens as a run, anything else as a
        corpus."""
        if Run.exists(Path(path)):
            self.open_run(path)
        else:
            self.open_corpus(path)

    def open_corpus(self, path: str | Path) -> None:
        self.settings.add_recent_corpus(path)
        self.data.load_corpus(str(path))
        self.show_tab("setup")

    def open_run(self, path: str | Path) -> bool:
        """Open a run folder (its curves; Start then resumes it); refused while training."""
        if not self.training.state.allows("open_run"):
            self.error_raised.emit("Cannot open a run", "Stop the current training first.")
            return False
        if not self.runs.open(path):
            return False
        opened = self.runs.opened  # a fine-tune is watched and continued on its own tab
        self.show_tab("finetune" if opened is not None and opened.task else "train")
        note = self.runs.opened.checkpoint_note if self.runs.opened is not None else ""
        self.say(f"Opened run {Path(path).name}" + (f". {note}" if note else ""))  # damage
        return True

    def open_chat(self, path: str | Path) -> bool:
        """Open the run `path` (an instruction fine-tune) and chat with it on the Generate tab."""
        if not self.open_run(path):
            return False
        self.chat_requested.emit(Path(path))
        self.show_tab("generate")
        return True

    def new_run(self) -> bool:
        """Forget the current run; the next Start begins a new one. Refused while training."""
        if not self.training.state.allows("new_run"):
            self.error_raised.emit("Training is running", "Stop the current training first.")
            return False
        self.inference.choose(None)
        self.runs.close()
        self.show_tab("setup")
        return True

    # -- lifetime ------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker and wait for its thread; True if all ended in time."""
        if not self.closed:
            self.closed = True
            self.closing.emit()
        services = (self.training, self.inference, self.data)
        return all([service.shutdown(timeout_ms) for service in services])
