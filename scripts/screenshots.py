"""Render GPT Studio's tabs offscreen, mid-training, to PNG files (for the README and for review).

    python scripts/screenshots.py [--out docs/screenshots] [--evals 3] [--dark]

It opens the real window with its defaults (the bundled fables, characters, the default
preset), presses Start, waits until `--evals` evaluations have happened, pauses, and saves one
PNG per tab of the registry: setup.png (before Start), train.png, and KEY.png for every other tab
(KEY-dark.png with --dark). A tab whose picture needs something typed or chosen first has a
`stage_<key>(window)` function below; it runs (training paused) before that tab is grabbed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402

from gptstudio.ui import create_app  # noqa: E402
from gptstudio.ui.qt_setup import leave_a_core_for_the_gui  # noqa: E402
from gptstudio.ui.theme import dark_palette  # noqa: E402


def wait_until(predicate, timeout_s: float) -> bool:
    """Run the event loop until `predicate()` is true (checked every 50 ms) or time runs out."""
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(loop.quit)
    timer.start()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        loop.exec()
    timer.stop()
    return True


def stage_attention(window) -> None:
    """The probe prompt on the paused run's live weights, its sharpest head, a token chosen."""
    tab = window.tab("attention")
    prompt = tab.record.probe.text() or "The fox"
    tab.controls.prompt.setText(prompt)
    tab.ask(prompt)
    wait_until(lambda: tab.shown is not None and prompt.startswith(
        "".join(tab.shown.view.maps.tokens)[:8]), 60)
    if tab.shown is not None:
        sharpest = min(tab.shown.stats, key=lambda s: (s.entropy_norm != s.entropy_norm,
                                                       s.entropy_norm))
        tab.views.select_head(sharpest.layer, sharpest.head)
        tab.views.select_position(len(tab.shown.labels) * 2 // 3)


def stage_tokenizer(window) -> None:
    """"Watch BPE learn": a BPE of 300 trained on the corpus, scrubbed back to 25 merges, on a
    passage of the corpus and a line whose accented letters a small BPE splits into bytes."""
    tab = window.tab("tokenizer")
    tab.input.setPlainText(tab.text()[:520].rstrip() + "\n\nA café in Zürich: naïve, or not?")
    tab.pages.setCurrentWidget(tab.bpe_page)
    tab.bpe_page.vocab.setValue(300)
    tab.bpe_page.train.click()
    wait_until(lambda: tab.bpe_page.trained is not None, 120)
    tab.bpe_page.slider.setValue(25)
    wait_until(lambda: tab.view_is_current("merges"), 30)
    tab.bpe_page.table.scrollToTop()


def stage_generate(window) -> None:
    """A seeded generation from the paused run's live weights: shaded tokens, and the next
    token's bars with top-k cutting some of them."""
    tab = window.tab("generate")
    wait_until(lambda: tab.active is None, 30)
    controls = tab.controls
    controls.temperature.setValue(0.8)
    controls.top_k.setValue(12)
    controls.max_tokens.setValue(400)
    controls.seed.setValue(42)
    tab.generate_page.prompt.setPlainText("The fox looked into the well and")
    tab.generate.start()
    wait_until(lambda: tab.active is None, 120)
    tab.redraw()


def stage_finetune(window) -> None:
    """The paused run stopped and made the base of a short classification fine-tune on the
    shipped authors set: curves, confusion matrix, and a passage classified in "try it"."""
    session, tab = window.session, window.tab("finetune")
    session.training.stop()
    wait_until(lambda: not session.training.state.is_running, 120)
    tab.refresh_base_runs()
    tab.options.choose_base(session.runs.current_dir)
    tab.options.train_last.setValue(-1)  # "all": a short pretraining leaves much to learn
    tab.options.epochs.setValue(3.0)
    tab.options.lr.setText("1e-3")
    wait_until(lambda: tab.preview is not None, 60)
    if not tab.start():
        return
    wait_until(lambda: session.training.state.is_running, 30)
    wait_until(lambda: not session.training.state.is_running, 600)
    tab.try_it.input.setText("The fox looked into the well and saw the moon.")
    tab.try_it.button.click()
    wait_until(lambda: "<b>" in tab.try_it.result.text(), 60)
    wait_until(lambda: "test examples" in tab.results.accuracy.text(), 120)  # core's report
    tab.redraw(force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--evals", type=int, default=3, help="evaluations to wait for")
    parser.add_argument("--dark", action="store_true", help="render with the dark palette")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gptstudio-shots-"))
    # Our own settings and runs: the screenshots show the defaults, not the user's last set-up.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    os.environ["GPTSTUDIO_RUNS_DIR"] = str(scratch / "runs")

    app = create_app(["gptstudio-screenshots"])
    leave_a_core_for_the_gui()
    if args.dark:
        # Offscreen there is no system theme to follow: give Fusion the dark palette.
        QGuiApplication.styleHints().setColorScheme(Qt.ColorScheme.Dark)
        app.setPalette(dark_palette())
    from gptstudio.ui import MainWindow

    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    suffix = "-dark" if args.dark else ""
    window.tabs.setCurrentIndex(0)
    session = window.session
    training = session.training
    wait_until(lambda: session.data.tiktoken_statuses is not None, 30)
    window.grab().save(str(out / f"setup{suffix}.png"))

    if not training.start():
        print(f"cannot start: {window.last_error}", file=sys.stderr)
        return 1
    train_tab = window.tab("train")
    history = train_tab.history
    ok = wait_until(lambda: len(history.samples) >= args.evals
                    or not training.state.is_running, args.timeout)
    training.pause()
    wait_until(lambda: training.state == "paused" or not training.state.is_running, 30)
    window.show_tab("train")
    # Hover over the middle of the curve, so the screenshot shows the value read-out too.
    plot = train_tab.plots.loss_plot
    wait_until(lambda: plot.points() > 0, 10)
    middle = len(history.steps) // 2
    vb = plot.getPlotItem().vb
    point = QPointF(history.steps.column("step")[middle], history.steps.column("loss")[middle])
    plot._on_mouse_moved(vb.mapViewToScene(point))
    train_tab.redraw(force=True)
    window.grab().save(str(out / f"train{suffix}.png"))
    written = [f"setup{suffix}.png", f"train{suffix}.png"]
    from gptstudio.ui.tabs import TABS

    for info in TABS:
        if info.key in ("setup", "train"):
            continue
        window.show_tab(info.key)
        stage = globals().get(f"stage_{info.key}")
        if stage is not None:
            stage(window)
        wait_until(lambda: False, 0.5)  # let the tab's background work and repaints land
        window.grab().save(str(out / f"{info.key}{suffix}.png"))
        written.append(f"{info.key}{suffix}.png")
    print(f"wrote {', '.join(written)} to {out} "
          f"({len(history.evals)} evaluations, step {int(history.steps.last('step'))})")
    training.stop()  # saves a checkpoint; then closing asks nothing
    wait_until(lambda: not training.state.is_running, 120)
    window.close()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
