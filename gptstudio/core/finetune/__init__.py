"""Fine-tuning a pretrained run: classification (chapter 6), instructions (chapter 7), full or
LoRA (appendix E), all through the one `Trainer` (its batch-source and loss seams, `TrainTask`).

Import from here. Files, bottom-up:
    template.py        PromptTemplate, ALPACA_TEMPLATE, format_instruction(instruction, input="")
    lora.py            LoRAConfig, LoRALinear, apply_lora, merge_lora / unmerge_lora, adapters
    model.py           FinetunedGPT (a GPT + optional classifier head), set_trainable
    spec.py            FinetuneSpec: task, data file, blocks to train, LoRA, data options
    batches.py         EpochBatches: shuffled epochs, resumable exactly
    builtin.py         data that ships: builtin:authors (who wrote this passage?)
    labelled.py        TSV/CSV (label, text) files, stratified split, balancing
    classification.py  padded tokens, the loss, accuracy + confusion (AccuracyEvent), predict
    records.py         Alpaca JSON / JSON Lines records and their split
    instructions.py    prompt + response + end-of-text, masked targets, response loss, scores
    files.py           the adapter file on its own, the held-out responses file
    prepare.py         prepare_finetune / prepare_resumed_finetune / load_finetuned
    reports.py         load_classifier, classification_report, held_out_responses

A typical classification fine-tune (the CLI's `gptstudio finetune classify` does this):

    spec = FinetuneSpec("classification", "SMSSpamCollection", train_last=1)
    prepared = prepare_finetune("runs/spam", "runs/gpt2", spec,
                                default_train_config("classification"), epochs=5)
    for event in prepared.trainer.events():
        ...  # StepEvent, EvalEvent, AccuracyEvent (accuracy per split, confusion matrix), ...
    load_classifier("runs/spam").predict("You won a prize! Call now")

A fine-tune is an ordinary run folder; its data config records `task` ("classification" |
"instructions"), its base (`init_from`) and the spec, so `prepare_resumed_training`,
`load_trained_model` (a plain GPT, LoRA merged) and `evaluate_run` in `gptstudio.core.pipeline`
handle it like any run.
"""

from gptstudio.core.finetune.batches import EpochBatches
from gptstudio.core.finetune.builtin import BUILTIN_DATA, resolve_data_path
from gptstudio.core.finetune.classification import (
    ClassificationData,
    ClassifierEvaluator,
    Prediction,
    classify_texts,
    encode_classification,
)
from gptstudio.core.finetune.files import apply_adapter, read_adapter, save_adapter
from gptstudio.core.finetune.instructions import (
    InstructionData,
    ResponseEvaluator,
    ResponseReport,
    encode_records,
    overlap_f1,
    score_responses,
)
from gptstudio.core.finetune.labelled import (
    LabelledSplits,
    LabelledTexts,
    balance_classes,
    read_labelled,
    split_labelled,
)
from gptstudio.core.finetune.lora import (
    LORA_TARGETS,
    LoRAConfig,
    LoRALinear,
    adapter_state_dict,
    apply_lora,
    count_parameters,
    load_adapter_state_dict,
    merge_lora,
    unmerge_lora,
)
from gptstudio.core.finetune.model import FinetunedGPT, merged_state_dict, set_trainable
from gptstudio.core.finetune.prepare import (
    PreparedFinetune,
    load_finetuned,
    prepare_finetune,
    prepare_resumed_finetune,
)
from gptstudio.core.finetune.records import InstructionRecord, read_records, split_records
from gptstudio.core.finetune.reports import (
    ClassificationReport,
    Classifier,
    classification_report,
    held_out_responses,
    load_classifier,
)
from gptstudio.core.finetune.spec import (
    DEFAULT_TRAIN_LAST,
    TASKS,
    FinetuneSpec,
    default_train_config,
)
from gptstudio.core.finetune.template import (
    ALPACA_TEMPLATE,
    PHI3_TEMPLATE,
    TEMPLATES,
    PromptTemplate,
    format_instruction,
    get_template,
)

__all__ = [
    "ALPACA_TEMPLATE", "BUILTIN_DATA", "DEFAULT_TRAIN_LAST", "LORA_TARGETS", "PHI3_TEMPLATE",
    "TASKS",
    "TEMPLATES", "ClassificationData", "ClassificationReport", "Classifier",
    "ClassifierEvaluator", "EpochBatches", "FinetuneSpec", "FinetunedGPT", "InstructionData",
    "InstructionRecord", "LabelledSplits", "LabelledTexts", "LoRAConfig", "LoRALinear",
    "Prediction", "PreparedFinetune", "PromptTemplate", "ResponseEvaluator", "ResponseReport",
    "adapter_state_dict", "apply_adapter", "apply_lora", "balance_classes",
    "classification_report", "classify_texts", "count_parameters", "default_train_config",
    "encode_classification", "encode_records", "format_instruction", "get_template",
    "held_out_responses", "load_adapter_state_dict", "load_classifier", "load_finetuned",
    "merge_lora", "merged_state_dict", "overlap_f1", "prepare_finetune",
    "prepare_resumed_finetune", "read_adapter", "read_labelled", "read_records",
    "resolve_data_path",
    "save_adapter", "score_responses", "set_trainable", "split_labelled", "split_records",
    "unmerge_lora",
]
