"""What the next training run records, kept in step with the tab's record fields.

The probe prompt defaults to a line of the current corpus's first 20,000 characters
(`core.attention.default_probe`; only those are read) until the user types one; the interval is
"auto" or a number of steps. Every change is checked by the engine (`check_attention_model`,
`encode_prompt`, `check_every`) against the current tokenizer and the planned model: a problem is
shown beside the fields and nothing is recorded, otherwise the training service is told
(`TrainingService.record_attention`), which hands it to the next Start.
Left out: the records themselves (core) and showing them (the tab).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from gptstudio.core.attention import (
    RECORD_MAX_TOKENS, check_attention_model, check_every, default_probe, encode_prompt,
)
from gptstudio.core.errors import GPTStudioError
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.attention.controls import RecordControls

PROBE_SOURCE_CHARS = 20_000  # default_probe looks at no more of the corpus than this


class RecordingSettings(QObject):
    """Connects `RecordControls` to the session's training and data services."""

    def __init__(self, session: Session, controls: RecordControls,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.controls = session, controls
        self.prompt, self.every = "", None  # what the training service was last told
        controls.changed.connect(self.apply)
        session.data.corpus_changed.connect(self._on_data_changed)
        session.data.tokenizer_changed.connect(self._on_data_changed)
        session.training.plan_changed.connect(self._on_plan_changed)
        self._on_data_changed()

    @Slot(object)
    def _on_data_changed(self, *_: object) -> None:
        data = self.session.data
        if data.corpus is not None and data.tokenizer is not None:
            # The probe comes from the corpus's first lines: read those only, never the whole
            # text (a big corpus would be read into memory here, on the GUI thread).
            first = data.corpus.preview(PROBE_SOURCE_CHARS)
            self.controls.set_default_probe(default_probe(first, data.tokenizer))
        else:
            self.apply()

    @Slot(object)
    def _on_plan_changed(self, *_: object) -> None:
        self.apply()

    @Slot()
    def apply(self) -> None:
        """Check the fields and tell the training service what to record ("" = nothing)."""
        c = self.controls
        prompt, problem, every = c.probe.text(), "", None
        if c.enabled.isChecked():
            try:
                text = c.every.text().strip().lower()
                every = None if text in ("", "auto") else check_every(_as_int(text))
                config = self.session.training.plan.model_config
                if config is not None:
                    check_attention_model(config)  # the LSTM: said plainly
                tokenizer = self.session.data.tokenizer
                if tokenizer is not None:
                    encode_prompt(tokenizer, prompt, RECORD_MAX_TOKENS)
                elif not prompt:
                    raise ValueError("Type a probe prompt to record.")
            except (GPTStudioError, ValueError) as exc:
                problem = str(exc)
        c.error.show_error(problem or None)
        recorded = prompt if c.enabled.isChecked() and not problem else ""
        self.prompt, self.every = recorded, every
        self.session.training.record_attention(recorded, every)


def _as_int(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"Record every N steps: a whole number or auto, not {text!r}.") \
            from None
