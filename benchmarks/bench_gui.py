"""Benchmark of the desktop app (offscreen), printing figures; not a test.

    python benchmarks/bench_gui.py [--steps 200] [--rounds 4]

1. Training throughput of the `tiny` preset inside the app (the real window on the Train tab:
   worker thread, signals, live plots) vs the headless engine (the same Trainer loop in a plain
   loop), same corpus, tokenizer, config, thread count and run folder, in this one process,
   `--rounds` pairs in alternating order (HA, AH, ...). Tokens/s = tokens of the timed steps /
   the sum of their step times (the first 10 steps of each run are warm-up and not timed); the
   ratio is the median of the pairs' ratios. Target >= 0.9x.
2. GUI event-loop latency while the app trains: a 10 ms QTimer probe; the lateness of each tick
   (interval - 10 ms) as p50/p99/max. Target p99 <= 30 ms.
3. Time from process start to the window shown: a fresh `python` process that imports the app,
   builds the window with its defaults and shows it; median of 3.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QObject, QSettings, QTimer, Slot  # noqa: E402

from gptstudio.ui import create_app  # noqa: E402
from gptstudio.ui.qt_setup import leave_a_core_for_the_gui  # noqa: E402

WARMUP = 10


def training_config(steps: int):
    from gptstudio.ui.tabs.setup.training_box import APP_DEFAULTS

    # Only training steps: evaluations and samples would be timed identically on both sides.
    return APP_DEFAULTS.replace(max_steps=steps, eval_interval=0, sample_interval=0,
                                checkpoint_interval=0, eval_iters=1, precision="fp32",
                                compile="off")


def throughput(events) -> tuple[float, int]:
    """(tokens/s over the timed steps, number of timed steps) from StepEvents."""
    timed = [e for e in events if e.step > WARMUP]
    seconds = sum(e.step_time for e in timed)
    tokens = sum(e.tokens_per_sec * e.step_time for e in timed)
    return tokens / seconds, len(timed)


def run_headless(corpus, tokenizer, steps: int, run_dir: Path) -> float:
    from gptstudio.core.data import split_tokens, tokenize_corpus
    from gptstudio.core.model import build_model, from_preset
    from gptstudio.core.train import Run, StepEvent, Trainer

    cfg = training_config(steps)
    model_cfg = from_preset("tiny", vocab_size=tokenizer.vocab_size)
    tokens = tokenize_corpus(corpus, tokenizer)
    train, val = split_tokens(tokens, cfg.val_fraction)
    run = Run.create(run_dir, model_cfg, cfg, {"corpus": "builtin:fables"}, tokenizer)
    trainer = Trainer(build_model(model_cfg), tokenizer, train, val, cfg, run=run)
    events = [e for e in trainer.events() if isinstance(e, StepEvent)]
    return throughput(events)[0]


class LatencyProbe(QObject):
    """Records how late each tick of a 10 ms timer fires, in the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = QElapsedTimer()
        self.late_ms: list[float] = []
        self.timer = QTimer(self)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._on_tick)
        self._last = None

    def start(self) -> None:
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @Slot()
    def _on_tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.late_ms.append((now - self._last) / 1e6 - 10.0)
        self._last = now


class StepCollector(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.events: list = []

    @Slot(object)
    def on_event(self, event) -> None:
        from gptstudio.core.train import StepEvent

        if isinstance(event, StepEvent):
            self.events.append(event)


def run_in_app(window, steps: int) -> tuple[float, list[float]]:
    """Train in the real window; returns (tokens/s, event-loop lateness samples in ms)."""
    session = window.session
    session.new_run()
    setup = window.tab("setup")
    box = setup.training_box
    setup.model_box.set_preset("tiny")
    cfg = training_config(steps)
    for key in ("max_steps", "eval_interval", "eval_iters", "checkpoint_interval", "precision",
                "compile"):
        box.set_field(key, str(getattr(cfg, key)))
    assert box.config() == cfg, box.errors  # the form makes exactly the headless config
    collector = StepCollector()
    session.training.event_reported.connect(collector.on_event)
    probe = LatencyProbe()
    loop = QEventLoop()
    session.training.state_changed.connect(loop.quit)
    assert session.training.start(), window.last_error
    probe.start()
    while session.training.state.is_running:
        loop.exec()
    probe.stop()
    session.training.event_reported.disconnect(collector.on_event)
    session.training.state_changed.disconnect(loop.quit)
    return throughput(collector.events)[0], probe.late_ms


def startup_seconds() -> float:
    """Seconds from launching a Python process to its window being shown."""
    code = (
        "import os, sys, time; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen');"
        f"sys.path.insert(0, {str(ROOT)!r});"
        "from PySide6.QtCore import QTimer;"
        "from gptstudio.ui import create_app; app = create_app(['x']);"
        "from gptstudio.ui import MainWindow; w = MainWindow(); w.show();"
        "QTimer.singleShot(0, lambda: (print(time.time()), w.close(), app.quit()));"
        "app.exec()"
    )
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, GPTSTUDIO_RUNS_DIR=str(Path(scratch) / "runs"),
                   XDG_CONFIG_HOME=scratch, HOME=scratch)
        started = time.time()
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
    shown = float(out.stdout.strip().splitlines()[-1])
    return shown - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gptstudio-bench-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    os.environ["GPTSTUDIO_RUNS_DIR"] = str(scratch / "runs")
    create_app(["bench"])
    leave_a_core_for_the_gui()  # the app's policy; the headless side runs with the same
    from gptstudio.ui import MainWindow

    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    window.show_tab("train")
    corpus, tokenizer = window.session.data.corpus, window.session.data.tokenizer
    print(f"tiny preset, {args.steps} steps ({WARMUP} warm-up), batch "
          f"{training_config(1).batch_size}, block 64, fp32, char tokenizer on the fables; "
          f"torch threads: {torch.get_num_threads()} of {os.cpu_count()} cores")
    app_tps, head_tps, ratios, late = [], [], [], []
    for r in range(args.rounds):
        # Alternate the order (HA, AH, HA, ...) so a drift in the machine's load cancels out.
        for side in ("headless", "app") if r % 2 == 0 else ("app", "headless"):
            if side == "headless":
                head_tps.append(run_headless(corpus, tokenizer, args.steps,
                                             scratch / f"headless-{r}"))
            else:
                tps, lateness = run_in_app(window, args.steps)
                app_tps.append(tps)
                late.extend(lateness)
        ratios.append(app_tps[-1] / head_tps[-1])
        print(f"round {r + 1}: headless {head_tps[-1]:,.0f} tokens/s, app {app_tps[-1]:,.0f} "
              f"tokens/s ({ratios[-1]:.2f}x)")
    ratio = statistics.median(ratios)
    print(f"throughput: app {statistics.median(app_tps):,.0f} tokens/s vs headless "
          f"{statistics.median(head_tps):,.0f} tokens/s; median of the rounds' ratios "
          f"{ratio:.2f}x (target >= 0.9x)")
    late_arr = np.array(late)
    print(f"event-loop lateness while training ({len(late_arr)} ticks of a 10 ms timer): "
          f"p50 {np.percentile(late_arr, 50):.1f} ms, p99 {np.percentile(late_arr, 99):.1f} ms, "
          f"max {late_arr.max():.1f} ms (target p99 <= 30 ms)")
    window.close()
    starts = [startup_seconds() for _ in range(3)]
    print(f"process start to window shown: median {statistics.median(starts):.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s in starts)})")
    print(json.dumps({"app_tokens_per_s": app_tps, "headless_tokens_per_s": head_tps,
                      "ratios": ratios, "ratio": ratio, "latency_p99_ms": float(np.percentile(late_arr, 99)),
                      "startup_s": statistics.median(starts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
