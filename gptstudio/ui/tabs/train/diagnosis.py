"""The Train tab's "Is this normal?": what `core/train/diagnose.py` reads in the run's curves.

A label under the Train tab's learn text (objectName `diagnosisLabel`), refreshed by the tab at
each evaluation, when a run starts, is opened or closed. It only shows the core's findings, the
main one first. Left out: the rules (core) and where the numbers come from (`RunHistory`).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from gptstudio.core.train.diagnose import Finding, count_skipped, diagnose
from gptstudio.ui.history import RunHistory

TITLE = "<b>Is this normal?</b>"
WAITING = "Start a run: after a few evaluations this says what its curves show."
MARKS = {"falling": "✓", "flat": "•", "too_early": "…", "overfitting": "⚠",
         "not_learning": "⚠", "rising": "⚠", "nan_skips": "⚠"}


def findings_for(history: RunHistory, vocab_size: int | None) -> list[Finding]:
    """The core's findings on a history's evaluations and skipped steps."""
    evals = history.evals
    return diagnose(evals.column("step"), evals.column("train_loss"), evals.column("val_loss"),
                    vocab_size=vocab_size, n_skipped=count_skipped(history.steps.column("loss")))


class DiagnosisLabel(QLabel):
    """`show_history(history, vocab_size)`; `findings` holds what it shows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("diagnosisLabel")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMargin(4)
        self.findings: list[Finding] = []
        self.clear_run()

    def clear_run(self) -> None:
        self.findings = []
        self.setText(f"{TITLE}<br>{WAITING}")

    def show_history(self, history: RunHistory, vocab_size: int | None) -> None:
        if len(history.evals) == 0 and len(history.steps) == 0:
            self.clear_run()
            return
        self.findings = findings_for(history, vocab_size)
        lines = [f"{MARKS.get(f.kind, '•')} {html.escape(f.message)}" for f in self.findings]
        self.setText(TITLE + "".join(f"<p style='margin-top:4px'>{line}</p>" for line in lines))

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]
