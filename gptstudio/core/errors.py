"""The one exception hierarchy of the engine.

Every error that a person can cause (a bad file, an impossible config, a corrupt checkpoint, a NaN
loss) is raised as a subclass of `GPTStudioError` with a message that says what went wrong and, where
possible, what to do. The CLI prints the message on one line; the app shows it in a dialog.
"""


class GPTStudioError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(GPTStudioError, ValueError):
    """A model, training or data configuration that cannot work (or cannot fit in memory)."""


class TokenizerError(GPTStudioError, ValueError):
    """Bad tokenizer input: an unknown character, a disallowed special token, a corrupt file."""


class CorpusError(GPTStudioError, ValueError):
    """A corpus that cannot be used: empty, binary, not UTF-8, missing."""


class DownloadError(CorpusError):
    """A download failed: offline, HTTP error, checksum mismatch."""


class DatasetError(GPTStudioError, ValueError):
    """Tokens that cannot make a dataset: too short for one window, empty split, dtype overflow."""


class CheckpointError(GPTStudioError):
    """A checkpoint or run directory that cannot be loaded: corrupt, foreign, unsafe or mismatched."""


class TrainingError(GPTStudioError):
    """Training could not go on (e.g. too many non-finite losses in a row)."""


class Cancelled(GPTStudioError):
    """Long work was cancelled by the user between two of its steps."""
