"""A run folder: everything about one training run, readable while it trains.

    my-run/
      run.json             format marker and version
      model_config.json    what is trained (GPTConfig / LSTMConfig as a dict with "arch")
      train_config.json    how (TrainConfig)
      data_config.json     on what (corpus, split, ...; free-form JSON from the caller)
      tokenizer.json       the tokenizer, so the run can be sampled without the corpus
      metrics.jsonl        one event per line (steps, evals, samples, checkpoints, status)
      checkpoints/         step-00000500/ ... (see checkpoint.py)
      adapter.safetensors  a LoRA fine-tune only: the adapter of the latest checkpoint, alone
      responses.json       an instruction fine-tune: held-out responses beside the references
      attention/           step-00000500.safetensors ...: attention on a probe prompt, recorded
                           while training (optional; see gptstudio/core/attention/record.py)
      run.lock             while a process trains the run: who (pid, host, since; run_lock.py)

Every file except metrics.jsonl is written atomically. metrics.jsonl is appended to and flushed
after each line, so the app or a notebook can read it while training runs; a process killed
mid-line leaves a truncated last line, which `read_metrics` skips (and the next writer starts on
a fresh line).

This module is the only place that names these files: the rest of the code asks a `Run` (its
paths, `Run.exists`, `Run.delete`). Left out: the checkpoint format (`checkpoint.py`) and the
loop (`trainer.py`).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptstudio.core.atomic import atomic_write_text, clean_stale_temp_files, temp_dir_name
from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.train.checkpoint import (
    CheckpointInfo,
    best_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint_info,
)
from gptstudio.core.readers import MB, read_json_file
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.events import StatusEvent, TrainEvent, event_from_dict, event_to_dict

if TYPE_CHECKING:  # annotations only: the model and tokenizer packages are heavier to import
    from gptstudio.core.model import GPTConfig, LSTMConfig
    from gptstudio.core.tokenizers import Tokenizer

RUN_FORMAT = "gptstudio-run"
RUN_VERSION = 1
RUN_FILE = "run.json"
MODEL_CONFIG_FILE = "model_config.json"
TRAIN_CONFIG_FILE = "train_config.json"
DATA_CONFIG_FILE = "data_config.json"
# Not "tokenizer.json": that is Hugging Face's name, and a copy of ours beside exported weights
# would break AutoTokenizer. Runs written before the rename keep the old name (still read).
TOKENIZER_FILE = "gptstudio-tokenizer.json"
OLD_TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
ATTENTION_DIR = "attention"
ADAPTER_FILE = "adapter.safetensors"
RESPONSES_FILE = "responses.json"
LOCK_FILE = "run.lock"  # the one writer's name, while it trains (run_lock.py)
CONFIG_FILE_LIMIT = 16 * MB  # a run's JSON files hold configs: a few KB
# Everything a run folder's own: what `Run.delete` removes (checkpoints first, run.json last).
_OWN_NAMES = (CHECKPOINTS_DIR, ATTENTION_DIR, ADAPTER_FILE, RESPONSES_FILE, METRICS_FILE,
              TOKENIZER_FILE, OLD_TOKENIZER_FILE, DATA_CONFIG_FILE, TRAIN_CONFIG_FILE,
              MODEL_CONFIG_FILE, RUN_FILE)


class Run:
    """An open run folder. Make one with `Run.create` or `Run.open`."""

    def __init__(
        self,
        path: Path,
        model_config: dict[str, Any],
        train_config: TrainConfig,
        data_config: dict[str, Any],
    ) -> None:
        self.path = path
        self.model_config_dict = model_config
        self.train_config = train_config
        self.data_config = data_config
        self._metrics_checked = False  # has this writer made sure it starts on a fresh line?
        # Set by whoever loaded a checkpoint of the run: the newer ones passed over as damaged.
        self.checkpoint_note = ""

    # --- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike,
        model_config: GPTConfig | LSTMConfig | dict[str, Any],
        train_config: TrainConfig,
        data_config: dict[str, Any],
        tokenizer: Tokenizer,
        *,
        replace: bool = False,
    ) -> Run:
        """Make a new run folder (it may exist if empty) with the configs and the tokenizer.

        `model_config` is a GPTConfig/LSTMConfig (or its `to_dict()`); `data_config` any JSON-able
        dict describing the data. `replace`: a run already in `directory` is deleted first
        (`Run.delete`, once the configs are known to be good) and the new one takes its place,
        next to any files of the user's own that were kept with it.
        """
        path = Path(directory)
        replacing = replace and Run.exists(path)
        if Run.exists(path) and not replacing:
            raise CheckpointError(f"{path} already holds a run; open it to resume, or pick a new "
                                  "folder.")
        if not replacing and path.exists() and (
                not path.is_dir() or any(p.name != LOCK_FILE for p in path.iterdir())):
            raise CheckpointError(f"{path} exists and is not an empty folder; pick a new folder.")
        model_dict = model_config.to_dict() if hasattr(model_config, "to_dict") else model_config
        if not isinstance(model_dict, dict):
            raise ConfigError(f"model_config must be a config or a dict, got {model_config!r}.")
        if not isinstance(train_config, TrainConfig):
            raise ConfigError(f"train_config must be a TrainConfig, got {train_config!r}.")
        files = {
            MODEL_CONFIG_FILE: model_dict,
            TRAIN_CONFIG_FILE: train_config.to_dict(),
            DATA_CONFIG_FILE: data_config,
        }
        texts = {}
        for name, value in files.items():
            try:
                texts[name] = json.dumps(value, indent=2, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"The {name[:-5].replace('_', ' ')} cannot be saved as JSON: "
                                  f"{exc}.") from None
        if replacing:
            Run.delete(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CHECKPOINTS_DIR).mkdir(exist_ok=True)
        for name, text in texts.items():
            atomic_write_text(path / name, text)
        tokenizer.save(path / TOKENIZER_FILE)
        # run.json last: a folder without it was never a complete run.
        marker = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(path / RUN_FILE, json.dumps(marker, indent=2))
        return cls(path, model_dict, train_config, dict(data_config))

    @classmethod
    def open(cls, directory: str | os.PathLike) -> Run:
        """Open an existing run folder, checking its files; CheckpointError if it is not one."""
        path = Path(directory)
        if not path.is_dir():
            raise CheckpointError(f"{path} is not a folder, so it cannot be a GPT Studio run.")
        marker = _read_json(path / RUN_FILE, missing=f"{path} is not a GPT Studio run folder "
                                                    f"({RUN_FILE} is missing).")
        if not isinstance(marker, dict) or marker.get("format") != RUN_FORMAT:
            raise CheckpointError(f"{path} is not a GPT Studio run folder ({RUN_FILE} is foreign).")
        if not isinstance(marker.get("version"), int) or marker["version"] > RUN_VERSION:
            raise CheckpointError(f"The run {path} was written by a newer GPT Studio; update it.")
        model_config = _read_json(path / MODEL_CONFIG_FILE)
        data_config = _read_json(path / DATA_CONFIG_FILE)
        try:
            train_config = TrainConfig.from_dict(_read_json(path / TRAIN_CONFIG_FILE))
        except ConfigError as exc:
            raise CheckpointError(f"{path / TRAIN_CONFIG_FILE}: {exc}") from None
        if not isinstance(model_config, dict) or not isinstance(data_config, dict):
            raise CheckpointError(f"The run {path} is damaged: a config file is not an object.")
        if not any(os.path.lexists(path / name) for name in (TOKENIZER_FILE, OLD_TOKENIZER_FILE)):
            raise CheckpointError(f"The run {path} is incomplete: {TOKENIZER_FILE} is missing.")
        # Leftovers of a writer that was killed (half-written temp files) are removed here.
        clean_stale_temp_files(path)
        clean_stale_temp_files(path / CHECKPOINTS_DIR)
        return cls(path, model_config, train_config, data_config)

    @staticmethod
    def exists(directory: str | os.PathLike) -> bool:
        """Whether `directory` holds a run (its marker file), complete or not; never raises."""
        try:
            return (Path(directory) / RUN_FILE).is_file()
        except OSError:  # e.g. a name too long for the file system
            return False

    @staticmethod
    def delete(directory: str | os.PathLike) -> None:
        """Remove a run: its configs, tokenizer, metrics and checkpoints, then the folder if
        nothing else is left in it (files of the user's own are kept, and so is the folder).

        Refuses (CheckpointError, nothing removed) a folder that is not a GPT Studio run. The
        marker goes last, so a delete that is killed half-way leaves a folder that is still a
        run, and deleting it again finishes the job. A run another process trains is refused.
        """
        path = Path(directory)
        if not Run.exists(path):
            raise CheckpointError(f"{path} is not a GPT Studio run folder ({RUN_FILE} is missing), "
                                  "so nothing was deleted.")
        marker = _read_json(path / RUN_FILE)
        if not isinstance(marker, dict) or marker.get("format") != RUN_FORMAT:
            raise CheckpointError(f"{path} is not a GPT Studio run folder ({RUN_FILE} is "
                                  "foreign), so nothing was deleted.")
        from gptstudio.core.train.run_lock import check_no_other_writer

        # Refused while another process trains it; a lock of this process's own is kept.
        names = _OWN_NAMES if check_no_other_writer(path) else (*_OWN_NAMES, LOCK_FILE)
        clean_stale_temp_files(path)  # e.g. the leftovers of an earlier delete that was killed
        for name in names:
            entry = path / name
            if entry.is_dir() and not entry.is_symlink():
                # Renamed first: a half-removed folder never passes for the checkpoints.
                doomed = entry.with_name(temp_dir_name(name, kind="delete"))
                os.rename(entry, doomed)
                shutil.rmtree(doomed)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
            for temp in path.glob(f".{name}.tmp-*"):  # a write of this file that never finished
                temp.unlink(missing_ok=True)
        try:
            path.rmdir()
        except OSError:  # the user's own files are still there: leave the folder with them
            pass

    # --- files ------------------------------------------------------------------------------

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def adapter_path(self) -> Path:
        """A LoRA fine-tune's adapter (safetensors), rewritten at each checkpoint."""
        return self.path / ADAPTER_FILE

    @property
    def responses_path(self) -> Path:
        """An instruction fine-tune's held-out responses and their scores (JSON)."""
        return self.path / RESPONSES_FILE

    @property
    def attention_dir(self) -> Path:
        """Attention recorded during training (made by the first record; may not exist)."""
        return self.path / ATTENTION_DIR

    @property
    def tokenizer_path(self) -> Path:
        """The run's tokenizer file (the old name, in a run written before the rename)."""
        path = self.path / TOKENIZER_FILE
        old = self.path / OLD_TOKENIZER_FILE
        return old if not path.is_file() and old.is_file() else path

    def model_config(self) -> GPTConfig | LSTMConfig:
        """The model config as a GPTConfig / LSTMConfig."""
        from gptstudio.core.model import model_config_from_dict  # the model package is heavier

        try:
            return model_config_from_dict(self.model_config_dict)
        except ConfigError as exc:
            raise CheckpointError(f"{self.path / MODEL_CONFIG_FILE}: {exc}") from None

    def load_tokenizer(self) -> Tokenizer:
        """The run's tokenizer."""
        from gptstudio.core.tokenizers import load_tokenizer

        return load_tokenizer(self.tokenizer_path)

    def save_train_config(self, train_config: TrainConfig) -> None:
        """Replace the stored training config (e.g. a resumed run trained for more steps)."""
        atomic_write_text(self.path / TRAIN_CONFIG_FILE,
                          json.dumps(train_config.to_dict(), indent=2, ensure_ascii=False))
        self.train_config = train_config

    # --- metrics ----------------------------------------------------------------------------

    def log(self, event: TrainEvent) -> None:
        """Append one event to metrics.jsonl and flush it, so readers see it at once."""
        line = json.dumps(event_to_dict(event), ensure_ascii=False) + "\n"
        if not self._metrics_checked:
            _drop_partial_last_line(self.metrics_path)
            self._metrics_checked = True
        with open(self.metrics_path, "ab") as f:
            f.write(line.encode("utf-8"))
            f.flush()

    def read_metrics(self) -> list[TrainEvent]:
        """The events logged so far (see `read_metrics`)."""
        return read_metrics(self.metrics_path)

    # --- checkpoints ------------------------------------------------------------------------

    def checkpoints(self) -> list[CheckpointInfo]:
        return list_checkpoints(self.checkpoints_dir)

    def latest_checkpoint(self) -> CheckpointInfo | None:
        """The newest readable checkpoint; None when the run has none yet. A run whose every
        checkpoint is damaged is never taken for one that has none: CheckpointError names it."""
        latest = latest_checkpoint(self.checkpoints_dir)
        if latest is None:
            damage = []
            for entry in sorted(self.checkpoints_dir.glob("step-*"), reverse=True):
                try:
                    read_checkpoint_info(entry)
                except CheckpointError as exc:
                    damage.append(str(exc))
            if damage:
                raise CheckpointError(f"No checkpoint of the run {self.path.name} can be read: "
                                      f"{damage[0]} Restore the run from a copy, or start it "
                                      "over (--restart) if its checkpoints are lost.")
        return latest

    def best_checkpoint(self) -> CheckpointInfo | None:
        return best_checkpoint(self.checkpoints_dir)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def _drop_partial_last_line(path: Path) -> None:
    """A killed writer may have left half a line at the end: cut it off, so every line of the
    file is whole JSON (readers such as pandas refuse a broken line in the middle)."""
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        keep, position = 0, end
        while position > 0:  # back, a block at a time, to the last whole line's end
            start = max(0, position - 65536)
            f.seek(start)
            block = f.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        f.truncate(keep)


def read_metrics(path: str | os.PathLike) -> list[TrainEvent]:
    """The events of a metrics.jsonl file, in order; [] if it does not exist yet.

    A resumed run logs again the steps that came after its checkpoint (they are trained
    again): each session starts with a "running" status at the step it starts from, and the
    events logged earlier for later steps are dropped, so every step appears once, with the
    values of the session that kept it. Lines that do not parse are skipped: the file may be
    read while a line is being written.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    events = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            event = event_from_dict(json.loads(raw))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if event is None:
            continue
        if isinstance(event, StatusEvent) and event.state == "running":
            events = [e for e in events if getattr(e, "step", 0) <= event.step]
        events.append(event)
    return events


def _read_json(path: Path, missing: str | None = None) -> Any:
    """A run folder's JSON file: a regular file of bounded size (the folder may come from
    someone else), with an error that never quotes it."""
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(missing or f"The run {path.parent} is incomplete: {path.name} is "
                                         "missing.")
    return read_json_file(path, max_bytes=CONFIG_FILE_LIMIT, what=f"the run file {path.name}",
                          error=CheckpointError)
