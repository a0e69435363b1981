"""Benchmark of the Attention tab and of recording attention while training; prints figures.

    python benchmarks/bench_attention.py [--repeats 15] [--steps 300] [--rounds 4]

1. Compute + draw the whole grid: the `small` preset (6 layers x 6 heads, width 384, untrained
   weights) on a 128-token prompt of the fables: the tab's inference job (`compute_view`: the
   forward with attention, next tokens, each head's statistics, the thumbnails) and then the
   drawing (`AttentionViews.draw` plus rendering the grid and the heatmap, `QWidget.grab`).
   Median of `--repeats`, in this process, with the app's torch thread policy. Target <= 150 ms.
2. Event-loop lateness while scrubbing during training: the real window trains `tiny` (the app's
   defaults, recording every 5 steps) while the Attention tab is shown on the recording and a
   20 ms timer moves the step slider to a random recorded step; a 10 ms probe timer measures
   how late each tick fires (p50 / p99 / max). Target p99 <= 30 ms.
3. Training throughput with recording on ("auto", the default) vs off: three headless
   Trainers of `tiny` (batch 16, fp32, the fables probe) - off, auto, every 10 steps - advanced
   in turn one step at a time, so a shared machine's load falls on all alike. Wall-clock time
   of each side's steps after the 10th, hooks included (a step's own `step_time` leaves them
   out); the ratio off/on per round, median of `--rounds`. Target >= 0.95x. Also printed: the
   recorder's own share of the time (`AttentionRecorder.seconds`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, QObject, QSettings, QTimer, Slot  # noqa: E402

from benchmarks.bench_gui import LatencyProbe  # noqa: E402
from gptstudio.ui import create_app  # noqa: E402
from gptstudio.ui.qt_setup import leave_a_core_for_the_gui  # noqa: E402

WARMUP = 10


def fables_char():
    from gptstudio.core.corpora import load_builtin
    from gptstudio.core.tokenizers import CharTokenizer

    corpus = load_builtin("fables")
    return corpus, CharTokenizer.from_text(corpus.text)


def bench_grid(repeats: int) -> None:
    from gptstudio.core.model import build_model, from_preset
    from gptstudio.ui.session import Session
    from gptstudio.ui.tabs.attention.tab import AttentionTab, compute_view

    corpus, tok = fables_char()
    torch.manual_seed(0)
    model = build_model(from_preset("small", vocab_size=tok.vocab_size)).eval()
    prompt = corpus.text[2000:2128]
    assert len(tok.encode(prompt)) == 128
    session = Session()
    tab = AttentionTab(session)
    tab.resize(1280, 760)
    tab.show()
    computes, draws = [], []
    for i in range(repeats + 2):
        started = time.perf_counter()
        shown = compute_view(model, tok, prompt=prompt, step=0, caption="bench", task="",
                             lens=False)
        computed = time.perf_counter()
        tab.views.select_head(i % 6, (i * 5) % 6)
        tab.views.draw(shown)
        tab.views.grid.grab()
        tab.views.heatmap.grab()
        drawn = time.perf_counter()
        if i >= 2:  # the first two warm caches up
            computes.append((computed - started) * 1e3)
            draws.append((drawn - computed) * 1e3)
    total = [c + d for c, d in zip(computes, draws)]
    print(f"grid, small preset (6 layers x 6 heads), 128 tokens, {repeats} repeats: compute "
          f"median {statistics.median(computes):.1f} ms, draw {statistics.median(draws):.1f} ms, "
          f"compute + draw median {statistics.median(total):.1f} ms, max {max(total):.1f} ms "
          f"(target <= 150 ms)")
    tab.close()
    session.shutdown()


class Scrubber(QObject):
    """Moves the step slider to a random recorded step every 20 ms."""

    def __init__(self, tab) -> None:
        super().__init__()
        self.tab, self.moves = tab, 0
        self.rng = random.Random(0)
        self.timer = QTimer(self)
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._on_tick)

    @Slot()
    def _on_tick(self) -> None:
        slider = self.tab.steps.slider
        if slider.maximum() > 0:
            slider.setValue(self.rng.randrange(slider.maximum() + 1))
            self.moves += 1


def bench_scrubbing(steps: int) -> None:
    from gptstudio.ui import MainWindow
    from gptstudio.ui.tabs.setup.training_box import APP_DEFAULTS

    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    setup, tab = window.tab("setup"), window.tab("attention")
    setup.model_box.set_preset("tiny")
    cfg = APP_DEFAULTS.replace(max_steps=steps, eval_interval=0, checkpoint_interval=0,
                               precision="fp32", compile="off")
    for key in ("max_steps", "eval_interval", "checkpoint_interval", "precision", "compile"):
        setup.training_box.set_field(key, str(getattr(cfg, key)))
    tab.record.every.setText("5")
    tab.record.every.editingFinished.emit()
    session = window.session
    assert session.training.start(), window.last_error
    window.show_tab("attention")
    loop = QEventLoop()
    QTimer.singleShot(1500, loop.quit)
    loop.exec()  # the first records arrive
    tab.show_step(0)
    probe, scrubber = LatencyProbe(), Scrubber(tab)
    session.training.state_changed.connect(loop.quit)
    probe.start()
    scrubber.timer.start()
    while session.training.state.is_running:
        loop.exec()
    probe.stop()
    scrubber.timer.stop()
    late = np.array(probe.late_ms)
    print(f"scrubbing while training (tiny, {steps} steps, a record every 5 steps, "
          f"{len(tab.timeline.steps)} records, {scrubber.moves} slider moves, {len(late)} ticks "
          f"of a 10 ms timer): lateness p50 {np.percentile(late, 50):.1f} ms, p99 "
          f"{np.percentile(late, 99):.1f} ms, max {late.max():.1f} ms (target p99 <= 30 ms)")
    window.close()


def make_trainer(corpus, tok, steps: int, run_dir: Path, every):
    """A headless Trainer of `tiny` (and its recorder, or None for "off")."""
    from gptstudio.core.attention import AttentionRecorder, default_probe
    from gptstudio.core.data import split_tokens, tokenize_corpus
    from gptstudio.core.model import build_model, from_preset
    from gptstudio.core.train import Run, Trainer, TrainConfig

    cfg = TrainConfig(max_steps=steps, batch_size=16, eval_interval=0, sample_interval=0,
                      checkpoint_interval=0, eval_iters=1, precision="fp32", compile="off")
    model_cfg = from_preset("tiny", vocab_size=tok.vocab_size)
    train, val = split_tokens(tokenize_corpus(corpus, tok), cfg.val_fraction)
    run = Run.create(run_dir, model_cfg, cfg, {"corpus": "builtin:fables"}, tok)
    torch.manual_seed(0)
    recorder = None if every == "off" else AttentionRecorder(
        run_dir, default_probe(corpus.text, tok), None if every == "auto" else every)
    trainer = Trainer(build_model(model_cfg), tok, train, val, cfg, run=run,
                      hooks=() if recorder is None else (recorder,))
    return trainer, recorder


def next_step_seconds(events) -> float | None:
    """Run a trainer's generator to its next StepEvent: the wall seconds it took (the step, its
    hooks and anything between), or None at the end."""
    from gptstudio.core.train import StepEvent

    started = time.perf_counter()
    for event in events:
        if isinstance(event, StepEvent):  # hooks run before their step's event
            return time.perf_counter() - started
    return None


def bench_throughput(steps: int, rounds: int, scratch: Path) -> None:
    """Trainers advanced in turn, one step each, so that the load of a shared machine falls on
    all of them alike; per round, each side's wall time over the steps after warm-up."""
    corpus, tok = fables_char()
    sides = ("off", "auto", 10)
    ratios: dict[object, list[float]] = {"auto": [], 10: []}
    for r in range(rounds):
        made = {e: make_trainer(corpus, tok, steps, scratch / f"t-{r}-{e}", e) for e in sides}
        streams = {e: made[e][0].events() for e in sides}
        seconds = {e: 0.0 for e in sides}
        order = list(sides)
        for step in range(1, steps + 1):
            order = order[1:] + order[:1]  # who goes first changes every step
            for e in order:
                took = next_step_seconds(streams[e])
                if step > WARMUP:
                    seconds[e] += took
        for e in sides:
            for _ in streams[e]:  # the final checkpoint and status
                pass
        trainer = made['off'][0]
        tokens = (steps - WARMUP) * trainer.config.batch_size * trainer.block_size
        line = ", ".join(f"{e}: {tokens / seconds[e]:,.0f} tokens/s" for e in sides)
        for e in ("auto", 10):
            ratios[e].append(seconds["off"] / seconds[e])
        rec = {e: made[e][1] for e in ("auto", 10)}
        print(f"round {r + 1}: {line}; auto {ratios['auto'][-1]:.3f}x "
              f"({len(rec['auto'].recorded)} records, {rec['auto'].seconds:.2f} s recording = "
              f"{rec['auto'].seconds / seconds['auto']:.1%} of its time, final interval "
              f"{rec['auto'].every}), every 10 {ratios[10][-1]:.3f}x "
              f"({len(rec[10].recorded)} records, {rec[10].seconds / seconds[10]:.1%})")
    print(f"throughput, tiny, batch 16, fp32, {steps} steps, {rounds} rounds (interleaved step "
          f"by step): recording with the default (auto) vs off, median ratio "
          f"{statistics.median(ratios['auto']):.3f}x (target >= 0.95x); every 10 steps: "
          f"{statistics.median(ratios[10]):.3f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--only", choices=("grid", "scrub", "throughput"), default=None)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gptstudio-bench-attention-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    os.environ["GPTSTUDIO_RUNS_DIR"] = str(scratch / "runs")
    create_app(["bench"])
    leave_a_core_for_the_gui()
    print(f"torch threads: {torch.get_num_threads()} of {os.cpu_count()} cores")
    if args.only in (None, "grid"):
        bench_grid(args.repeats)
    if args.only in (None, "scrub"):
        bench_scrubbing(args.steps)
    if args.only in (None, "throughput"):
        bench_throughput(args.steps, args.rounds, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
