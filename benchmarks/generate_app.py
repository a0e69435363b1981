"""`bench_generate.py`'s in-app section: the Generate tab's tokens/s against the engine headless,
the GUI's lateness while it generates, and the first token as the tab shows it.

A `tiny` model (random weights, a character vocabulary of the fables without an end-of-text
token, so every generation runs its full length) is saved as a run's checkpoint; the real
window (offscreen) opens the run, and the Generate tab generates `tokens` tokens after a prompt
with a fixed seed. Headless is `core.generation.run_generation` on the same checkpoint, prompt,
settings and torch thread count (the app's: one fewer than the cores), in this one process;
rounds alternate (HA, AH, ...). In-app tokens/s = tokens / (the click to the tab's last token
received); lateness = how late each tick of a 10 ms QTimer fires in the GUI thread
(`bench_gui.LatencyProbe`) while the tab generates. First token in the app = the click to the
first batch of tokens arriving in the GUI thread, median over the rounds (the model is loaded
by a warm-up generation first).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QEventLoop, QObject, QSettings, QTimer, Slot

PROMPT = "The fox and the crow met by the well. "


class FirstBatch(QObject):
    """The time the first token batch of the current request reaches the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    @Slot(int, object)
    def on_progressed(self, _request: int, value: object) -> None:
        from gptstudio.ui.tabs.generate.jobs import TokenBatch

        if self.at is None and isinstance(value, TokenBatch):
            self.at = time.perf_counter()


def _make_run(folder: Path) -> Path:
    from gptstudio.core.corpora import load_builtin
    from gptstudio.core.model import build_model, from_preset
    from gptstudio.core.tokenizers import CharTokenizer
    from gptstudio.core.train import Run, TrainConfig, save_checkpoint

    tokenizer = CharTokenizer.from_text(load_builtin("fables").text, special_tokens=())
    config = from_preset("tiny", vocab_size=tokenizer.vocab_size)
    torch.manual_seed(0)
    model = build_model(config)
    run = Run.create(folder, config, TrainConfig(max_steps=1, batch_size=1), {"corpus": None},
                     tokenizer)
    save_checkpoint(run.checkpoints_dir, 0, model, {"imported": True},
                    model_config=config.to_dict(), tokenizer_fingerprint=tokenizer.fingerprint(),
                    tokenizer_name=tokenizer.name)
    return folder


def _wait(predicate) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(loop.quit)
    timer.start()
    while not predicate():
        loop.exec()
    timer.stop()


def _in_app(window, probe, first: FirstBatch) -> tuple[float, int, float]:
    """(seconds, tokens, first-token seconds) of one generation in the tab."""
    tab = window.tab("generate")
    _wait(lambda: tab.active is None)
    first.at = None
    probe.start()
    start = time.perf_counter()
    tab.generate.start()
    _wait(lambda: tab.active is None)
    seconds = time.perf_counter() - start
    probe.stop()
    inner = tab.generate.result
    print(f"    (in the worker: {inner.tokens_per_s:,.0f} tokens/s over {inner.seconds:.2f} s; "
          f"click to done {seconds:.2f} s)")
    return seconds, len(tab.generate.events), (first.at or float("nan")) - start


def bench_app(rounds: int, tokens: int) -> None:
    from bench_gui import LatencyProbe

    from gptstudio.core.generation import run_generation
    from gptstudio.core.pipeline import load_trained_model
    from gptstudio.core.sampling import SamplingConfig
    from gptstudio.ui import create_app
    from gptstudio.ui.qt_setup import leave_a_core_for_the_gui

    scratch = Path(tempfile.mkdtemp(prefix="gptstudio-bench-gen-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    os.environ["GPTSTUDIO_RUNS_DIR"] = str(scratch / "runs")
    run_dir = _make_run(scratch / "tiny")
    create_app(["bench-generate"])
    threads_before = torch.get_num_threads()
    leave_a_core_for_the_gui()  # the app's policy; headless runs with the same
    from gptstudio.ui import MainWindow

    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    assert window.session.open_run(run_dir), window.last_error
    window.show_tab("generate")
    tab = window.tab("generate")
    tab.generate_page.prompt.setPlainText(PROMPT)
    controls = tab.controls
    controls.temperature.setValue(0.8)
    controls.seed.setValue(1)
    config = SamplingConfig(max_new_tokens=tokens, temperature=0.8, seed=1)
    _, model, tokenizer = load_trained_model(run_dir)
    first = FirstBatch()
    window.session.inference.streams.progressed.connect(first.on_progressed)
    probe = LatencyProbe()
    controls.max_tokens.setValue(50)
    _in_app(window, probe, first)  # warm-up: loads the checkpoint in the worker
    run_generation(model, tokenizer, PROMPT, SamplingConfig(max_new_tokens=50, seed=1))
    controls.max_tokens.setValue(tokens)
    probe.late_ms.clear()
    print(f"in the app: tiny preset (random weights), {tokens} tokens after a "
          f"{len(PROMPT)}-character prompt, temperature 0.8, seed 1; torch threads "
          f"{torch.get_num_threads()} of {os.cpu_count()} cores, both sides")
    app_tps, head_tps, ratios, firsts = [], [], [], []
    for r in range(rounds):
        for side in ("headless", "app") if r % 2 == 0 else ("app", "headless"):
            if side == "headless":
                result = run_generation(model, tokenizer, PROMPT, config)
                head_tps.append(len(result.events) / result.seconds)
                head_text = result.text
            else:
                seconds, n, first_s = _in_app(window, probe, first)
                app_tps.append(n / seconds)
                firsts.append(first_s)
                app_text = tab.generate_page.text.tokens_text()
        ratios.append(app_tps[-1] / head_tps[-1])
        print(f"  round {r + 1}: headless {head_tps[-1]:,.0f} tokens/s, app "
              f"{app_tps[-1]:,.0f} tokens/s ({ratios[-1]:.2f}x)", flush=True)
    late = np.array(probe.late_ms)
    print(f"  same text in the app and headless: {app_text == head_text}")
    print(f"  throughput: app {statistics.median(app_tps):,.0f} vs headless "
          f"{statistics.median(head_tps):,.0f} tokens/s; median of the rounds' ratios "
          f"{statistics.median(ratios):.2f}x (target >= 0.9x)")
    print(f"  GUI lateness while generating: p50 {np.percentile(late, 50):.1f} ms, p99 "
          f"{np.percentile(late, 99):.1f} ms, max {late.max():.1f} ms over {len(late)} ticks "
          f"(target p99 <= 30 ms)")
    print(f"  first token in the app (click to the GUI thread): median "
          f"{1000 * statistics.median(firsts):.1f} ms (target <= 100 ms)")
    window.close()
    torch.set_num_threads(threads_before)
