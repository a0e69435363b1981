"""Fine-tuning data: TSV/CSV labelled texts and Alpaca records, their splits, and every bad input
named by file and line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gptstudio.core.errors import ConfigError, CorpusError, DatasetError
from gptstudio.core.finetune import (
    ALPACA_TEMPLATE,
    encode_classification,
    encode_records,
    format_instruction,
    read_labelled,
    read_records,
    split_labelled,
    split_records,
)
from gptstudio.core.finetune.batches import EpochBatches
from tests.finetune_runs import char_tokenizer

SMS_LINES = [  # the SMS Spam Collection's own layout: label, a tab, the raw message
    'ham\tGo until jurong point, crazy.. Available only in bugis n great world la e buffet...',
    'ham\tOk lar... Joking wif u oni...',
    'spam\tFree entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121',
    'ham\tU dun say so early hor... U c already then say...',
    'ham\t"Nah I don\'t think he goes to usf, he lives around here though',
    'spam\tFreeMsg Hey there darling it\'s been 3 week\'s now and no word back! "quoted',
    'ham\tEven my brother is not like to speak with me.\tThey treat me like aids patent.',
    'spam\tWINNER!! As a valued network customer you have been selected to receivea £900 prize',
]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_the_sms_spam_collection_format_loads_as_it_is(tmp_path):
    path = write(tmp_path, "SMSSpamCollection", "\r\n".join(SMS_LINES) + "\r\n")
    data = read_labelled(path)
    assert data.labels == ("ham", "spam")  # numbered in sorted order
    assert len(data) == 8 and data.class_counts() == [5, 3]
    # Quotes are part of the message; everything after the first tab is the text.
    assert data.texts[4].startswith('"Nah')
    assert data.texts[6].endswith("\tThey treat me like aids patent.")
    assert data.lines == tuple(range(1, 9))
    assert "£900" in data.texts[7]


def test_csv_with_a_header_in_any_order_and_quoted_commas(tmp_path):
    text = 'Text,Label\n"Hello, world",greet\n"Bye,\nfor now",leave\nHi there,greet\nSee ya,leave\n'
    data = read_labelled(write(tmp_path, "d.csv", text))
    assert data.labels == ("greet", "leave")
    assert data.texts == ("Hello, world", "Bye,\nfor now", "Hi there", "See ya")
    assert data.targets == (0, 1, 0, 1)
    assert data.lines == (2, 4, 5, 6)  # a quoted newline: the record ends on line 4


@pytest.mark.parametrize("name, text, message", [
    ("d.tsv", "ham\thello\nspam no tab here\nham\thi\n", "d.tsv, line 2: no tab"),
    ("d.tsv", "ham\thello\nspam\t   \nspam\tok\n", "d.tsv, line 2: the text of this 'spam'"),
    ("d.tsv", "\thello\nham\thi\n", "d.tsv, line 1: the label is empty"),
    ("d.tsv", "ham\ta\nham\tb\nspam\tc\n", "d.tsv, line 3: the label 'spam' has a single"),
    ("d.tsv", "ham\ta\nham\tb\n", "one class only ('ham')"),
    ("d.tsv", "\n\n", "holds no examples"),
    ("d.csv", 'label,text\nham,"never closed\nspam,x\n', "d.csv, line 3: not valid CSV"),
    ("d.csv", "label,text\nham,a\nspam\nham,b\n", "d.csv, line 3: 1 column(s)"),
])
def test_bad_labelled_files_name_the_file_and_line(tmp_path, name, text, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_labelled(write(tmp_path, name, text))


def test_a_file_that_is_not_utf8_says_where(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes(b"ham\thello\nspam\t\xff\xfe bad\n")
    with pytest.raises(CorpusError, match="offset"):
        read_labelled(path)


def many(tmp_path, counts):
    lines = [f"{label}\t{label} text {i}" for label, n in counts.items() for i in range(n)]
    return read_labelled(write(tmp_path, "d.tsv", "\n".join(lines)))


def test_the_split_is_stratified_seeded_and_disjoint(tmp_path):
    data = many(tmp_path, {"a": 100, "b": 50})
    splits = split_labelled(data, val_fraction=0.1, test_fraction=0.2, seed=5)
    assert splits.train.class_counts() == [70, 35]
    assert splits.val.class_counts() == [10, 5]
    assert splits.test.class_counts() == [20, 10]
    every = splits.train.texts + splits.val.texts + splits.test.texts
    assert sorted(every) == sorted(data.texts)  # each example in exactly one split
    again = split_labelled(data, val_fraction=0.1, test_fraction=0.2, seed=5)
    other = split_labelled(data, val_fraction=0.1, test_fraction=0.2, seed=6)
    assert again.val.texts == splits.val.texts and other.val.texts != splits.val.texts


def test_balance_undersamples_every_class_to_the_smallest(tmp_path):
    data = many(tmp_path, {"ham": 90, "spam": 30})
    splits = split_labelled(data, balance=True, seed=0)
    counts = np.add(np.add(splits.train.class_counts(), splits.val.class_counts()),
                    splits.test.class_counts())
    assert counts.tolist() == [30, 30]


def test_padding_truncation_and_its_count(tmp_path):
    tok = char_tokenizer()
    lines = ["a\t" + "x" * 5, "a\t" + "x" * 12, "b\t" + "y" * 3, "b\t" + "y" * 20] * 5
    splits = split_labelled(read_labelled(write(tmp_path, "d.tsv", "\n".join(lines))), seed=0)
    data = encode_classification(splits, tok, block_size=16)  # longest (20) is cut to 16
    assert data.max_length == 16
    train = data.splits["train"]
    assert train.ids.shape[1] == 16 and train.lengths.max() == 16
    assert data.splits["train"].n_truncated + data.splits["val"].n_truncated \
        + data.splits["test"].n_truncated == 5
    short = train.lengths.argmin()
    assert (train.ids[short, train.lengths[short]:] == tok.eot_id).all()  # padded with eot
    assert encode_classification(splits, tok, block_size=16, max_length=8).max_length == 8
    with pytest.raises(ConfigError, match="longer than the base model's context"):
        encode_classification(splits, tok, block_size=16, max_length=32)


def test_text_the_base_tokenizer_cannot_encode_names_the_line(tmp_path):
    lines = ["a\thello", "a\tworld", "b\tnaïve café", "b\tplain"]
    splits = split_labelled(read_labelled(write(tmp_path, "d.tsv", "\n".join(lines))),
                            val_fraction=0.25, test_fraction=0.0)
    with pytest.raises(DatasetError, match=r"d.tsv, line 3: the base run's tokenizer cannot"):
        encode_classification(splits, char_tokenizer(), block_size=64)


def test_epoch_batches_cover_every_example_once_per_epoch():
    batches = EpochBatches(10, 3, seed=1, collate=lambda i: (i,))
    seen = [batches.next_batch()[0] for _ in range(3)]
    assert len(set(np.concatenate(seen).tolist())) == 9  # one waits for the next epoch
    assert batches.epoch == 0
    batches.next_batch()
    assert batches.epoch == 1
    with pytest.raises(DatasetError, match="fewer than one batch"):
        EpochBatches(2, 3, seed=0, collate=lambda i: (i,))
    with pytest.raises(DatasetError, match="batch_size"):
        EpochBatches(10, 2, seed=1, collate=lambda i: (i,)).load_state_dict(batches.state_dict())


# --- instruction records ---------------------------------------------------------------------


def test_the_books_instruction_data_loads_and_splits_85_5_10(shared_data):
    records = read_records(shared_data / "instruction-data.json")
    assert len(records) == 1100
    assert records[0].instruction.startswith("Evaluate the following phrase")
    assert records[0].line == 2 and records[1].line > records[0].line
    splits = split_records(records, seed=123)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (935, 55, 110)


def test_json_lines_and_an_absent_input(tmp_path):
    text = '{"instruction": "Say hi.", "output": "hi"}\n\n{"instruction": "x", "input": null,' \
           ' "output": "y"}\n'
    records = read_records(write(tmp_path, "d.jsonl", text))
    assert [(r.instruction, r.input, r.line) for r in records] == [("Say hi.", "", 1),
                                                                     ("x", "", 3)]


@pytest.mark.parametrize("name, text, message", [
    ("d.json", '[\n {"instruction": "a", "output": "b"},\n {"instruction": "c" "output": 1}\n]',
     r"d.json, line 3, column 22: not valid JSON \(Expecting ',' delimiter\)"),
    ("d.json", '[\n {"instruction": "a", "output": "b"},\n {"instruction": "c"}\n]',
     r"d.json, line 3: the record's 'output' is missing"),
    ("d.json", '[\n {"instruction": "a", "output": "b"},\n ["c"]\n]',
     r"d.json, line 3: a record must be an object"),
    ("d.json", '[{"instruction": " ", "output": "b"}]', r"line 1: the record's 'instruction' is"),
    ("d.json", '{"instruction": "a", "output": "b"}', r"expected a JSON array"),
    ("d.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": \n', r"d.jsonl, line 2"),
    ("d.json", '[]', "holds no instruction records"),
])
def test_bad_instruction_files_name_the_file_and_line(tmp_path, name, text, message):
    with pytest.raises(DatasetError, match=message):
        read_records(write(tmp_path, name, text))


def test_a_prompt_longer_than_the_context_is_an_error_a_long_response_is_cut(tmp_path):
    records = [{"instruction": "Say it.", "input": "", "output": "a " * 40}] * 3
    records.append({"instruction": "Write " + "b" * 300, "input": "", "output": "ok"})
    path = write(tmp_path, "d.json", json.dumps(records, indent=1))
    splits = split_records(read_records(path)[:3], val_fraction=0.34, test_fraction=0.0)
    tok = char_tokenizer()
    data = encode_records(splits, tok, block_size=200, source="d.json")
    assert data.splits["train"].n_truncated == 2
    assert max(len(s) for s in data.splits["train"].sequences) == 201  # inputs: block_size
    long = split_records(read_records(path), val_fraction=0.25, test_fraction=0.25, seed=0)
    with pytest.raises(DatasetError, match=r"d.json, line 17: the record's prompt is 4\d\d"
                                           " tokens, but the base model reads 200"):
        encode_records(long, tok, block_size=200, source="d.json")


def test_a_sequence_is_prompt_response_and_end_of_text(tmp_path):
    tok = char_tokenizer()
    records = read_records(write(tmp_path, "d.json", json.dumps(
        [{"instruction": "Add.", "input": "1 2", "output": "3"}] * 3)))
    data = encode_records(split_records(records, val_fraction=0.34, test_fraction=0.0), tok,
                          block_size=256)
    seq = data.splits["train"].sequences[0]
    prompt = format_instruction("Add.", "1 2", ALPACA_TEMPLATE)
    assert tok.decode(seq[:-1].tolist()) == prompt + "3" and seq[-1] == tok.eot_id
    assert data.splits["train"].prompt_lengths[0] == len(prompt)
