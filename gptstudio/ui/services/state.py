"""The training state the app is in, and the one table of what each state allows.

Every enable rule of the app — the Train tab's buttons, the menu actions, whether the Setup tab
may be edited — reads `TrainingState.allows(what)`, so a rule changes in one place.
Left out: who changes the state (the training service).
"""

from __future__ import annotations

from enum import Enum


class TrainingState(str, Enum):
    """From Start to the worker's end: PREPARING → TRAINING ⇄ PAUSED → STOPPING → IDLE."""

    IDLE = "idle"
    PREPARING = "preparing"  # tokenizing the corpus, building the model, opening the run
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"

    @property
    def label(self) -> str:
        """What the status bar says."""
        return STATE_LABELS[self]

    @property
    def is_running(self) -> bool:
        """True from Start until the worker has finished (paused and stopping included)."""
        return self is not TrainingState.IDLE

    def allows(self, what: str) -> bool:
        """Whether the action `what` (a key of ALLOWED) can be taken in this state."""
        return self in ALLOWED[what]


IDLE, PREPARING, TRAINING, PAUSED, STOPPING = TrainingState

STATE_LABELS = {IDLE: "Idle", PREPARING: "Preparing…", TRAINING: "Training", PAUSED: "Paused",
                STOPPING: "Stopping…"}

ALLOWED: dict[str, frozenset[TrainingState]] = {
    "start": frozenset({IDLE}),
    "new_run": frozenset({IDLE}),
    "open_run": frozenset({IDLE}),
    "edit_setup": frozenset({IDLE}),  # the set-up of a running run cannot change
    "pause": frozenset({TRAINING, PAUSED}),  # pause or resume
    "stop": frozenset({PREPARING, TRAINING, PAUSED}),
    "save_checkpoint": frozenset({TRAINING, PAUSED}),
    "set_learning_rate": frozenset({TRAINING, PAUSED}),  # a trainer is there to take it
}
