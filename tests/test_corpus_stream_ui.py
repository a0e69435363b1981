"""The app's DataService with a large corpus: opened with progress, its character vocabulary and
its BPE learnt in the background from the streamed corpus — the text is never read whole."""

from __future__ import annotations

import pytest

from gptstudio.core.corpora import ReadProgress
from gptstudio.core.corpora import files as corpus_files
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, MergeEvent
from gptstudio.ui.services import data as data_module
from gptstudio.ui.services.data import DataService


@pytest.fixture()
def service(qtbot):
    made = DataService()
    yield made
    assert made.shutdown(30_000)


def test_a_large_corpus_is_streamed_in_the_background(service, qtbot, tmp_path, monkeypatch,
                                                      shared_data):
    monkeypatch.setattr(data_module, "CHARS_IN_BACKGROUND_BYTES", 0)  # "large" from 1 byte
    monkeypatch.setattr(corpus_files, "BLOCK_BYTES", 4096)
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    path = tmp_path / "verdict.txt"
    path.write_text(text, encoding="utf-8")
    reads: list[ReadProgress] = []
    service.corpus_progress.connect(reads.append)
    with qtbot.waitSignal(service.tokenizer_changed, timeout=30_000,
                          check_params_cb=lambda t: t is not None):
        service.load_corpus(str(path))  # then the character vocabulary, in the background
    corpus = service.corpus
    assert reads and reads[-1] == ReadProgress(path.stat().st_size, path.stat().st_size)
    assert service.tokenizer.fingerprint() == CharTokenizer.from_text(text).fingerprint()
    assert "text" not in corpus.__dict__

    merges: list[MergeEvent] = []
    service.tokenizer_progress.connect(merges.append)
    with qtbot.waitSignal(service.tokenizer_changed, timeout=60_000,
                          check_params_cb=lambda t: t is not None):
        service.train_bpe(300, "gpt2")
    assert service.tokenizer.merges == BPETokenizer.train(text, 300).merges
    assert merges and all(isinstance(e, MergeEvent) for e in merges)  # what the Setup tab shows
    assert "text" not in corpus.__dict__


def test_the_corpus_box_says_checking_while_a_file_is_read(qtbot):
    from gptstudio.core.corpora import DownloadProgress
    from gptstudio.ui.tabs.setup.corpus_box import CorpusBox

    box = CorpusBox()
    qtbot.addWidget(box)
    box.on_loading("big.txt")
    box.on_progress(DownloadProgress(1 << 20, 4 << 20))
    assert box.progress.format().startswith("Downloading… 1.0 MB of 4.0 MB")
    box.on_progress(ReadProgress(3 << 20, 4 << 20))
    assert box.progress.format().startswith("Checking… 3.0 MB of 4.0 MB")
    assert box.progress.value() == 750
