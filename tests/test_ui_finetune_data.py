"""The Fine-tune tab's shipped data: instructions default to the book's bundled records
(`builtin:instructions`), which a GPT-2-tokenizer base previews at once, split and masked as
core does it."""

from __future__ import annotations

from gptstudio.core.finetune import read_records, resolve_data_path, split_records
from gptstudio.core.finetune.template import ALPACA_TEMPLATE
from gptstudio.core.tokenizers.tiktoken_named import TiktokenTokenizer
from tests.finetune_runs import base_run
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL
from tests.ui_fixtures_finetune import *  # noqa: F401, F403

pytestmark = QT_WARNINGS_FAIL


def test_instructions_default_to_the_books_records(qtbot, make_window, ui_env, shared_data):
    tokenizer = TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")
    base_run(ui_env / "gpt2-base", tokenizer=tokenizer, n_embd=16)
    w = make_window()
    tab = finetune_tab(w)
    with wait_preview(qtbot, w):
        choose_task(w, "instructions")
    assert finetune_options(w).data == "builtin:instructions"
    assert "instruction-data.json" in finetune_widget(w, "finetuneDataButton").text()
    assert finetune_widget(w, "finetuneStartButton").isEnabled()
    # The oracle: core's split of the bundled file, and the prompt of its first training record.
    splits = split_records(read_records(resolve_data_path("builtin:instructions")),
                           val_fraction=0.05, test_fraction=0.1, seed=123)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1100
    summary = tab.preview.summary
    assert (summary["n_train"], summary["n_val"], summary["n_test"]) == \
        (len(splits.train), len(splits.val), len(splits.test))
    assert f"{len(splits.train)} train" in finetune_widget(w, "dataSummary").text()
    record = splits.train[0]
    n_prompt = len(tokenizer.encode_ordinary(ALPACA_TEMPLATE.format(record.instruction,
                                                                     record.input)))
    shading = mask_shading(w)
    assert shading[:n_prompt] == ["masked"] * n_prompt and shading[n_prompt] == "trained"
