"""`RunsService`: which run the window is about (opened, just trained, or none); recent runs.

Opening a run folder reads its configs, tokenizer and curves (`run_opened(OpenedRun)`), makes its
own tokenizer the current one (its ids are what the checkpoint learnt) and loads the corpus it
trained on. What Start then does follows from the run (`OpenedRun`): resume it, train it again
from step 0 when it never reached a checkpoint, or begin a new run from its imported weights.
Left out: training (the training service) and reading the files (`run_files`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gptstudio.core.corpora import corpus_label
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.train import Run
from gptstudio.ui.services.data import DataService
from gptstudio.ui.services.run_files import OpenedRun, default_runs_root, open_run_folder
from gptstudio.ui.settings import AppSettings

log = logging.getLogger(__name__)


class RunsService(QObject):
    """The current run and the runs folder; see the module docstring."""

    run_opened = Signal(object)  # OpenedRun
    run_closed = Signal()  # "New run": the window is about no run any more
    runs_changed = Signal()  # a run was created or has changed in the runs folder
    status_message = Signal(str)
    error_raised = Signal(str, str)

    def __init__(self, data: DataService, settings: AppSettings, runs_root: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.settings = settings
        self.root = Path(runs_root) if runs_root is not None else default_runs_root()
        self.opened: OpenedRun | None = None  # set while Start would continue this run
        self.current_dir: Path | None = None  # the run being trained, or the one opened

    def open(self, path: str | Path) -> bool:
        """Read a run folder and make it the current run; False (and a message) if it cannot."""
        try:
            opened = open_run_folder(Path(path))
        except GPTStudioError as exc:
            self.error_raised.emit("Cannot open the run", str(exc))
            return False
        self.opened, self.current_dir = opened, opened.path
        self.settings.add_recent_run(opened.path)
        self.data.use_tokenizer(str(opened.tokenizer_path), opened.tokenizer)
        spec = opened.corpus_spec
        if spec and spec.startswith(("http://", "https://")):
            # A run folder may come from someone else: its say-so is no reason to fetch a URL.
            self.status_message.emit(
                f"This run trained on {corpus_label(spec)}, from the web: open that corpus on the "
                "Setup tab to resume it (a run folder alone never starts a download).")
        elif spec and spec != self.data.corpus_spec:
            # Bundled corpora load at once; files and known downloads in the background.
            self.data.load_corpus(spec, background=not spec.startswith("builtin:"))
        self.run_opened.emit(opened)
        return True

    def close(self) -> None:
        """Forget the current run (curves, resume point); corpus and tokenizer stay."""
        self.opened = None
        self.current_dir = None
        self.run_closed.emit()

    def new_run_dir(self, arch: str) -> Path:
        """A fresh folder name for a run of `arch` on the current corpus."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        corpus = self.data.corpus.name if self.data.corpus is not None else "corpus"
        base = f"{stamp}-{arch}-{corpus.replace('/', '-')[:24]}"
        path, n = self.root / base, 2
        while path.exists():  # two starts within one second
            path, n = self.root / f"{base}-{n}", n + 1
        return path

    def training_started(self, run_dir: Path) -> None:
        """A run is training in `run_dir`: it is current, its curves now come live."""
        self.opened, self.current_dir = None, run_dir
        self.settings.add_recent_run(run_dir)
        self.runs_changed.emit()

    def training_ended(self) -> None:
        """A stopped or finished run can be continued: Start then resumes it."""
        self.opened = None
        if self.current_dir is not None and Run.exists(self.current_dir):
            try:
                self.opened = open_run_folder(self.current_dir)
            except GPTStudioError as exc:
                log.warning("cannot re-read the run %s: %s", self.current_dir, exc)
        self.runs_changed.emit()

    def recent_runs(self) -> list[str]:
        """Recent run folders that still exist, newest first."""
        return [r for r in self.settings.recent_runs() if Path(r).is_dir()]
