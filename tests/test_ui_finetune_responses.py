"""An instruction fine-tune's held-out answers: when it ends, and when it is opened again, the
Fine-tune tab shows core's `held_out_responses` (computed in the lab's worker) as they are:
each record's request, reference, the model's response and F1, and the scores above them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from gptstudio.core.finetune import held_out_responses
from gptstudio.core.train import Run
from gptstudio.ui.services.finetune import HELD_OUT_SHOWN
from gptstudio.ui.services.state import IDLE
from gptstudio.ui.tabs.finetune.responses import request_text
from tests.finetune_runs import base_run, instruction_json
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, current_tab, open_run, training
from tests.ui_fixtures_finetune import *  # noqa: F401, F403

pytestmark = QT_WARNINGS_FAIL


@pytest.fixture
def base(ui_env):
    return base_run(ui_env / "base")


def expected_rows(report) -> list[tuple[str, ...]]:
    return [(request_text(r.instruction, r.input), r.reference, r.response,
             f"{r.overlap_f1:.2f}") for r in report.responses]


def test_held_out_responses_are_cores_after_the_run_and_when_opened(qtbot, make_window, base,
                                                                    tmp_path):
    data = instruction_json(tmp_path / "records.json", n=60)
    w = make_window()
    tab = finetune_tab(w)
    choose_task(w, "instructions")
    view = finetune_widget(w, "heldOutTable")
    assert view.isVisible() and view.rowCount() == 0
    options = finetune_options(w)
    options.epochs.setValue(1.0)
    options.batch.setValue(4)
    options.lr.setText("3e-3")
    with wait_preview(qtbot, w):
        choose_finetune_data(w, data)
    with qtbot.waitSignal(tab.lab.responses_ready, timeout=120_000) as answered:
        qtbot.mouseClick(finetune_widget(w, "finetuneStartButton"), Qt.MouseButton.LeftButton)
    assert training(w).state is IDLE
    run_dir = tab.run_dir
    assert answered.args[0][0] == run_dir
    report = held_out_responses(run_dir, limit=HELD_OUT_SHOWN, write=False)
    n_test = Run.open(run_dir).data_config["n_test"]
    assert 0 < len(report.responses) == min(n_test, HELD_OUT_SHOWN)
    assert tab.results.responses.rows() == expected_rows(report)
    note = finetune_widget(w, "heldOutNote").text()
    assert f"response loss {report.response_loss:.3f}" in note
    assert f"mean overlap F1 {report.mean_overlap_f1:.2f}" in note
    step = Run.open(run_dir).latest_checkpoint().step
    assert f"step {step}" in note
    assert not Run.open(run_dir).responses_path.exists()  # shown, not written into the run
    w.close()

    w2 = make_window()
    tab2 = w2.tab("finetune")
    with qtbot.waitSignal(tab2.lab.responses_ready, timeout=120_000):
        assert open_run(w2, run_dir)
    assert current_tab(w2) is tab2  # an opened fine-tune is shown on its own tab
    assert finetune_widget(w2, "heldOutTable").isVisible()
    assert tab2.results.responses.rows() == expected_rows(report)
