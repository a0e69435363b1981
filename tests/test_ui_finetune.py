"""The Fine-tune tab: options -> core's preview (trainable count, masked example), Start through
the training service, live accuracy and the confusion matrix, "try it", errors shown."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from gptstudio.core.finetune import FinetunedGPT, FinetuneSpec, LoRAConfig, \
    classification_report, count_parameters, load_classifier, read_labelled, set_trainable, \
    split_labelled
from gptstudio.core.finetune.template import ALPACA_TEMPLATE
from gptstudio.core.model import build_model
from gptstudio.core.train import AccuracyEvent, Run, StatusEvent, read_metrics
from gptstudio.ui.services.state import IDLE
from tests.finetune_runs import base_run, separable_tsv
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, current_tab, is_training, training
from tests.ui_fixtures_finetune import *  # noqa: F401, F403

pytestmark = QT_WARNINGS_FAIL


@pytest.fixture
def base(ui_env):
    """A tiny GPT base run (char tokenizer) in the app's runs folder."""
    return base_run(ui_env / "base")


@pytest.fixture
def tsv(tmp_path):
    return separable_tsv(tmp_path / "words.tsv", n=40)


def finished(event) -> bool:
    return isinstance(event, StatusEvent) and event.state in ("finished", "stopped", "failed")


def real_trainable_count(base, spec: FinetuneSpec, n_classes: int | None) -> int:
    """The oracle: a real model (real weights, on the CPU) frozen for `spec`, counted."""
    run = Run.open(base)
    model = FinetunedGPT(build_model(run.model_config()), n_classes=n_classes)
    set_trainable(model, train_last=spec.train_last, lora=spec.lora)
    return count_parameters(model)[0]


def test_classification_fine_tune_shows_accuracy_confusion_and_predictions(
        qtbot, make_window, base, tsv):
    w = make_window()
    tab = finetune_tab(w)
    assert tab.objectName() == "finetuneTab"
    assert finetune_widget(w, "baseRunSelector").currentData() == str(base)
    assert finetune_widget(w, "learnPanel").isVisible()
    for name in ("accuracyPlot", "confusionTable", "tryItInput"):
        assert finetune_widget(w, name).isVisible(), name
    assert not finetune_widget(w, "openChatButton").isVisible()
    options = finetune_options(w)
    options.lr.setText("3e-3")
    options.epochs.setValue(2.0)
    options.batch.setValue(4)
    with wait_preview(qtbot, w):
        choose_finetune_data(w, tsv)
    # The preview: the first training text of each label; the head reads its last real token.
    split = split_labelled(read_labelled(tsv), val_fraction=0.1, test_fraction=0.2, seed=123)
    examples = tab.mask.examples
    assert [e.label for e in examples] == list(split.labels) == ["early", "late"]
    for index, example in enumerate(examples):
        shading = mask_shading(w, index)
        n_text = sum(kind != "pad" for kind in example.kinds)
        assert shading[:n_text] == ["masked"] * (n_text - 1) + ["trained"]
        assert all(s is None for s in shading[n_text:])
        text = split.train.texts[list(split.train.targets).index(index)]
        assert "".join(example.pieces[:n_text]) == text

    start = finetune_widget(w, "finetuneStartButton")
    assert start.isEnabled()
    shown_live = []  # (event, the table and accuracy text right after the tab got the event)
    training(w).event_reported.connect(lambda e: shown_live.append(
        (e, shown_confusion(w), finetune_widget(w, "accuracyLabel").text()))
        if isinstance(e, AccuracyEvent) else None)
    with qtbot.waitSignal(training(w).event_reported, timeout=120_000, check_params_cb=finished):
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not is_training(w), timeout=30_000)
    assert current_tab(w) is tab  # the Train tab did not take the window over

    run_dir = tab.run_dir
    events = [e for e in read_metrics(Run.open(run_dir).metrics_path)
              if isinstance(e, AccuracyEvent)]
    assert len(events) >= 2 and events[0].step == 0  # before fine-tuning, then evaluations
    assert len(tab.history.accuracy) == len(events)
    assert list(tab.history.accuracy.column("step")) == [e.step for e in events]
    assert [e for e, *_ in shown_live] == events  # the live ones are the logged ones
    for event, table, label in shown_live:  # each shown as it came
        assert table == [list(row) for row in event.confusion] and sum(map(sum, table)) > 0
        assert f"{event.val_accuracy:.1%}" in label and f"{events[0].val_accuracy:.1%}" in label
    # Once it has ended: core's report, every example of every split; the test split's matrix.
    qtbot.waitUntil(lambda: "test examples" in finetune_widget(w, "accuracyLabel").text(),
                    timeout=30_000)
    report = classification_report(run_dir)
    assert shown_confusion(w) == report.confusion["test"].tolist()
    assert f"Test accuracy {report.accuracy['test']:.1%}" in \
        finetune_widget(w, "accuracyLabel").text()
    # Core's run records the same trainable count the tab showed before Start.
    assert Run.open(run_dir).data_config["n_trainable"] == trainable_count(w)

    text = "abc klm defg"
    box = finetune_widget(w, "tryItInput")
    assert box.isEnabled()
    qtbot.keyClicks(box, text)
    with wait_prediction(qtbot, w):
        qtbot.mouseClick(finetune_widget(w, "tryItButton"), Qt.MouseButton.LeftButton)
    expected = load_classifier(run_dir).predict(text)
    shown = finetune_widget(w, "tryItResult").text()
    assert f"<b>{expected.label}</b>" in shown
    for name, p in expected.probabilities.items():
        assert f"{name}</td><td align='right'>{p:.1%}" in shown


def test_lora_rank_changes_the_trainable_count_to_cores(qtbot, make_window, base, tsv):
    w = make_window()
    finetune_tab(w)
    with wait_preview(qtbot, w):
        choose_finetune_data(w, tsv)
    spec = FinetuneSpec("classification", str(tsv), train_last=1)
    assert trainable_count(w) == real_trainable_count(base, spec, 2)
    counts = {}
    for rank in (4, 8):
        with wait_preview(qtbot, w):
            finetune_widget(w, "loraCheck").setChecked(True)
            finetune_widget(w, "loraRankSpin").setValue(rank)
        lora_spec = spec.replace(lora=LoRAConfig(rank=rank))
        counts[rank] = trainable_count(w)
        assert counts[rank] == real_trainable_count(base, lora_spec, 2)
    # Each adapted layer (4 of the last block) adds rank * (in + out): doubling r adds as much.
    n_embd = Run.open(base).model_config().n_embd
    per_rank = (3 + 1) * n_embd + (n_embd + n_embd) + (n_embd + 4 * n_embd) + (4 + 1) * n_embd
    assert counts[8] - counts[4] == 4 * per_rank
    with wait_preview(qtbot, w):
        finetune_widget(w, "trainLastSpin").setValue(2)
    assert trainable_count(w) == real_trainable_count(
        base, spec.replace(train_last=2, lora=LoRAConfig(rank=8)), 2)


def test_instruction_mask_pause_stop_and_chat(qtbot, make_window, base, tmp_path):
    from tests.finetune_runs import char_tokenizer, instruction_json
    from gptstudio.core.finetune import read_records, split_records

    data = instruction_json(tmp_path / "records.json", n=40)
    w = make_window()
    tab = finetune_tab(w)
    choose_task(w, "instructions")
    assert finetune_widget(w, "trainLastSpin").text() == "all"  # the book's default here
    # The book's instruction data is the default (bundled); this test trains on its own file.
    assert finetune_options(w).data == "builtin:instructions"
    assert "instruction-data.json" in finetune_widget(w, "finetuneDataButton").text()
    with wait_preview(qtbot, w):
        choose_finetune_data(w, data)
    # The oracle: the prompt (template + instruction + input) is masked, the rest trained.
    record = split_records(read_records(data), val_fraction=0.05, test_fraction=0.1,
                           seed=123).train[0]
    tok = char_tokenizer()
    n_prompt = len(tok.encode_ordinary(ALPACA_TEMPLATE.format(record.instruction, record.input)))
    n_all = n_prompt + len(tok.encode_ordinary(record.output)) + 1  # + end-of-text
    assert mask_shading(w) == ["masked"] * n_prompt + ["trained"] * (n_all - n_prompt)
    assert mask_example(w).pieces[-1] == "<|endoftext|>"
    # An instruction run has no classes: no accuracy, no matrix, no "try it"; a chat instead.
    for name in ("accuracyPlot", "confusionTable", "tryItInput"):
        assert not finetune_widget(w, name).isVisible(), name
    assert finetune_widget(w, "openChatButton").isVisible()

    finetune_options(w).epochs.setValue(20.0)
    pause = finetune_widget(w, "finetunePauseButton")
    from tests.ui_fixtures import controls, wait_step
    with wait_step(qtbot, w):
        qtbot.mouseClick(finetune_widget(w, "finetuneStartButton"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pause.text() == "Resume")
    assert controls(w).pause.text() == "Resume"  # the Train tab shows the same state
    assert not controls(w).start.isEnabled()
    with qtbot.waitSignal(training(w).event_reported, timeout=60_000, check_params_cb=finished):
        qtbot.mouseClick(finetune_widget(w, "finetuneStopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training(w).state is IDLE, timeout=30_000)
    last = int(tab.history.steps.last("step"))
    assert Run.open(tab.run_dir).latest_checkpoint().step == last > 0  # stop saved its last step
    chat = finetune_widget(w, "openChatButton")
    assert chat.isEnabled()
    qtbot.mouseClick(chat, Qt.MouseButton.LeftButton)
    generate = w.tab("generate")
    assert current_tab(w) is generate
    assert generate.pages.currentWidget() is generate.chat_page
    assert w.session.runs.current_dir == tab.run_dir


def test_bad_data_is_said_and_the_tab_stays_usable(qtbot, make_window, base, tsv, tmp_path):
    one_class = tmp_path / "one.tsv"
    one_class.write_text("".join(f"spam\tbuy now {i}\n" for i in range(10)), encoding="utf-8")
    with pytest.raises(Exception) as core_error:  # what core says about this file
        split_labelled(read_labelled(one_class))
    w = make_window()
    finetune_tab(w)
    with wait_preview(qtbot, w, ok=False):
        choose_finetune_data(w, one_class)
    error = finetune_widget(w, "finetuneError")
    assert error.isVisible() and error.text() == str(core_error.value)
    assert not finetune_widget(w, "finetuneStartButton").isEnabled()
    assert w.tab("finetune").mask.example is None
    with wait_preview(qtbot, w):  # a good file again: all is well
        choose_finetune_data(w, tsv)
    assert not error.isVisible()
    assert finetune_widget(w, "finetuneStartButton").isEnabled()
    assert trainable_count(w) > 0
    # A text the base's tokenizer cannot encode is refused with core's message, not a crash.
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tfine text\nb\tother text\na\tÜber ✓\nb\tmore\n" * 3, encoding="utf-8")
    with wait_preview(qtbot, w, ok=False):
        choose_finetune_data(w, bad)
    assert "cannot encode" in error.text() and "bad.tsv, line" in error.text()


def test_ctrl_enter_in_the_tab_starts_the_fine_tune_not_a_pretraining(qtbot, make_window, base,
                                                                      tsv):
    w = make_window()
    finetune_tab(w)
    with wait_preview(qtbot, w):
        choose_finetune_data(w, tsv)
    spin = finetune_widget(w, "epochsSpin")
    spin.setFocus()
    with qtbot.waitSignal(training(w).run_started, timeout=60_000) as started:
        qtbot.keyClick(spin, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert started.args[0].task == "classification"
    with qtbot.waitSignal(training(w).event_reported, timeout=60_000, check_params_cb=finished):
        qtbot.mouseClick(finetune_widget(w, "finetuneStopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training(w).state is IDLE, timeout=30_000)
