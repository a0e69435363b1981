"""core.attention: a prompt's view against plain recomputations, head statistics against loops,
the ideal pattern of a task, and the picture encoder."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import torch

from gptstudio.core.attention import (
    head_stats, ideal_mask, ideal_share, inspect_prompt, label_head, thumbnail, token_attention,
    token_label,
)
from gptstudio.core.attention.png import MASKED, encode_png, grid_rgb, head_rgb, heatmap_rgb
from gptstudio.core.corpora.synthetic import ideal_attention
from gptstudio.core.errors import ConfigError, TokenizerError
from gptstudio.core.inspect import AttentionMaps, attention_maps
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model
from gptstudio.core.tokenizers import CharTokenizer

TEXT = "the cat sat on the mat.\nabcd|abcd\n"
TOK = CharTokenizer.from_text(TEXT + "|")


def gpt(block_size: int = 32, seed: int = 0, n_layer: int = 3):
    torch.manual_seed(seed)
    return build_model(GPTConfig(vocab_size=TOK.vocab_size, block_size=block_size,
                                 n_layer=n_layer, n_head=4, n_embd=32, dropout=0.1))


def plain_attention(model, ids: list[int]) -> list[np.ndarray]:
    """Every layer's weights by the textbook formula: softmax(mask(q kᵀ / sqrt(d))), with q and
    k from each block's own c_attn applied to what its first LayerNorm hands it."""
    inputs = []
    hooks = [b.ln_1.register_forward_hook(lambda _m, _i, out: inputs.append(out))
             for b in model.transformer.h]
    try:
        with torch.no_grad():
            model.eval()(torch.tensor([ids]))
    finally:
        for h in hooks:
            h.remove()
    out = []
    n_head, hs, T = model.config.n_head, model.config.head_dim, len(ids)
    for block, x in zip(model.transformer.h, inputs):
        with torch.no_grad():
            q, k, _ = block.attn.c_attn(x).split(model.config.n_embd, dim=2)
        q = q.view(1, T, n_head, hs).transpose(1, 2)[0].double().numpy()  # (nh, T, hs)
        k = k.view(1, T, n_head, hs).transpose(1, 2)[0].double().numpy()
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(hs)
        scores[:, np.triu(np.ones((T, T), bool), 1)] = -np.inf
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        out.append(e / e.sum(axis=-1, keepdims=True))
    return out


# --- the view ------------------------------------------------------------------------------------


def test_the_maps_equal_a_plain_recomputation_from_q_and_k_in_every_layer():
    model = gpt().train()
    view = inspect_prompt(model, TOK, "the cat sat on the mat.", step=3)
    assert model.training  # given back in the mode it was in
    ids = TOK.encode("the cat sat on the mat.")
    expected = plain_attention(model, ids)
    assert view.step == 3 and view.maps.n_layer == 3 and view.maps.n_head == 4
    for ours, plain in zip(view.maps.weights, expected):
        assert ours.dtype == np.float32 and ours.shape == (4, len(ids), len(ids))
        np.testing.assert_allclose(ours, plain, atol=2e-6)
        np.testing.assert_allclose(ours.sum(axis=-1), 1.0, rtol=1e-5)  # each row sums to 1
        assert not ours[:, np.triu(np.ones((len(ids),) * 2, bool), 1)].any()  # nothing ahead
    # ...and the same as the existing attention_maps (one explicit path, two entry points).
    for ours, theirs in zip(view.maps.weights, attention_maps(model, TOK, "the cat sat on the "
                                                                           "mat.").weights):
        np.testing.assert_array_equal(ours, theirs)


def test_next_tokens_and_the_logit_lens_come_from_the_models_own_logits():
    model = gpt().eval()
    prompt = "abcd|ab"
    view = inspect_prompt(model, TOK, prompt, top_k=4, logit_lens=True)
    with torch.no_grad():
        logits = model(torch.tensor([TOK.encode(prompt)])).logits[0]
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(4, dim=-1)
    np.testing.assert_array_equal(view.next_tokens.ids, top.indices.numpy())
    np.testing.assert_allclose(view.next_tokens.probs, top.values.numpy(), rtol=1e-5)
    assert view.next_tokens.at(2)[0][0] == TOK.token_str(int(top.indices[2, 0]))
    assert len(view.lens) == 3  # one per layer; the last one is the model's output
    np.testing.assert_array_equal(view.lens[-1].ids, view.next_tokens.ids)
    # An earlier layer read through the final norm and head, by hand.
    with torch.no_grad():
        t = model.transformer
        x = t.wte(torch.tensor([TOK.encode(prompt)])) + t.wpe(torch.arange(len(prompt)))
        x, _ = t.h[0](x)
        early = torch.softmax(model.lm_head(t.ln_f(x))[0], dim=-1).topk(4, dim=-1)
    np.testing.assert_array_equal(view.lens[0].ids, early.indices.numpy())


def test_a_long_prompt_is_cropped_to_the_context_and_says_so():
    model = gpt(block_size=8)
    view = inspect_prompt(model, TOK, "the cat sat on")
    assert view.maps.tokens == tuple("t sat on") and view.n_prompt_tokens == 14
    assert view.cropped == 6 and "last 8" in view.cropped_note()
    assert inspect_prompt(model, TOK, "the").cropped_note() == ""


def test_bad_prompts_and_the_lstm_get_clear_errors():
    model = gpt()
    with pytest.raises(ConfigError, match="Type a prompt"):
        inspect_prompt(model, TOK, "")
    with pytest.raises(TokenizerError, match="'Z'"):
        inspect_prompt(model, TOK, "the Zebra")
    lstm = build_model(LSTMConfig(vocab_size=TOK.vocab_size, n_embd=8, n_hidden=8, n_layer=1))
    with pytest.raises(ConfigError, match="LSTM.*no attention"):
        inspect_prompt(lstm, TOK, "the")


def test_token_labels_show_whitespace():
    assert token_label(" a\n") == "␣a↵" and token_label("\x01") == "\\x01"


# --- statistics ----------------------------------------------------------------------------------


def maps_of(*heads: np.ndarray) -> AttentionMaps:
    T = heads[0].shape[0]
    return AttentionMaps(step=0, token_ids=tuple(range(T)), tokens=tuple("abcdefgh"[:T]),
                         weights=(np.stack(heads).astype(np.float32),))


def previous_head(T):
    w = np.zeros((T, T))
    w[0, 0] = 1
    w[np.arange(1, T), np.arange(T - 1)] = 1
    return w


def test_head_statistics_match_plain_loops_and_name_clear_patterns():
    T = 6
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    first = np.zeros((T, T))
    first[:, 0] = 1
    rng = np.random.default_rng(0)
    random = np.tril(rng.random((T, T)))
    random /= random.sum(axis=1, keepdims=True)
    stats = head_stats(maps_of(previous_head(T), first, uniform, random))
    assert [s.label for s in stats[:3]] == ["previous token", "first token", "broad"]
    for s, w in zip(stats, (previous_head(T), first, uniform, random)):
        rows = range(1, T)
        entropy = np.mean([-sum(p * math.log2(p) for p in w[i, :i + 1] if p > 0) for i in rows])
        norm = np.mean([-sum(p * math.log2(p) for p in w[i, :i + 1] if p > 0) / math.log2(i + 1)
                        for i in rows])
        assert s.entropy == pytest.approx(entropy, abs=1e-6)
        assert s.entropy_norm == pytest.approx(norm, abs=1e-6)
        assert s.previous == pytest.approx(np.mean([w[i, i - 1] for i in rows]), abs=1e-6)
        assert s.first == pytest.approx(np.mean([w[i, 0] for i in rows]), abs=1e-6)
        assert s.same == pytest.approx(np.mean([w[i, i] for i in rows]), abs=1e-6)
    assert stats[0].entropy == 0 and stats[2].entropy_norm == pytest.approx(1.0)
    assert stats[0].to_dict()["layer"] == 1 and stats[0].to_dict()["head"] == 1


def test_labels_need_a_clear_majority():
    assert label_head(0.5, 0.1, 0.1, 0.2) == "previous token"
    assert label_head(0.1, 0.1, 0.6, 0.2) == "same token"
    assert label_head(0.49, 0.3, 0.1, 0.5) == ""
    assert label_head(float("nan"), float("nan"), float("nan"), float("nan")) == ""


def test_a_one_token_prompt_has_no_statistics_but_no_crash():
    stats = head_stats(maps_of(np.ones((1, 1))))
    assert math.isnan(stats[0].entropy) and stats[0].label == ""


def test_a_tokens_view_sums_its_heads_and_ranks_what_it_attends_to():
    T = 5
    a, b = previous_head(T), np.zeros((T, T))
    b[:, 0] = 1
    view = token_attention(maps_of(a, b), 0, 3)
    np.testing.assert_array_equal(view.per_head, np.stack([a[3], b[3]]))
    np.testing.assert_array_equal(view.total, a[3] + b[3])
    assert {pos for pos, _ in view.top[:2]} == {0, 2} and view.top[0][1] == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        token_attention(maps_of(a), 0, 9)


def test_thumbnails_keep_the_largest_weight_of_each_block():
    rng = np.random.default_rng(1)
    w = rng.random((2, 10, 10))
    small = thumbnail(w, 4)  # 10 -> blocks of 3 -> 4 x 4 (the last block is partial)
    assert small.shape == (2, 4, 4)
    for h in range(2):
        for i in range(4):
            for j in range(4):
                assert small[h, i, j] == w[h, 3 * i:3 * i + 3, 3 * j:3 * j + 3].max()
    assert thumbnail(w, 16) is w


# --- the ideal pattern ---------------------------------------------------------------------------


def test_the_ideal_mask_places_each_tasks_pattern_on_the_prompts_tokens():
    tokens = tuple("xyz\nab|ab\ncba|abc")  # a line that is no example, then copy, then other
    mask = ideal_mask("copy", tokens)
    offset = len("xyz\n")
    expected = {(offset + q, offset + s) for q, srcs in ideal_attention("copy", "ab|ab").items()
                for s in srcs}
    second = len("xyz\nab|ab\n")
    expected |= {(second + q, second + s)
                 for q, srcs in ideal_attention("copy", "cba|abc").items() for s in srcs}
    assert set(zip(*np.nonzero(mask))) == expected
    assert not ideal_mask("copy", tokens, skip_first_line=True)[:offset].any()
    with pytest.raises(ConfigError, match="no copy example"):
        ideal_mask("copy", tuple("hello"))


def test_ideal_share_is_the_weight_on_the_ideal_keys():
    mask = np.zeros((3, 3), bool)
    mask[2, 0] = True
    w = np.array([[1, 0, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.5]])
    assert ideal_share(w, mask) == pytest.approx(0.25)
    stats = head_stats(maps_of(w), mask)
    assert stats[0].ideal == pytest.approx(0.25)


# --- pictures ------------------------------------------------------------------------------------


def decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader for what encode_png writes (8-bit RGB, filter 0), as an oracle."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert not raw[:, 0].any()
    return raw[:, 1:].reshape(h, w, 3)


def test_png_bytes_decode_back_to_the_same_pixels():
    rgb = np.random.default_rng(2).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(rgb)), rgb)


def test_the_heatmap_picture_shows_the_mask_as_such_and_the_grid_has_every_head():
    view = inspect_prompt(gpt(), TOK, "abcd|abcd")
    cells = head_rgb(view.maps.weights[0][0], 4)
    hatch = {tuple(c) for c in np.array(MASKED)}
    future = {tuple(c) for c in cells[0:4, 4:36].reshape(-1, 3)}  # row 0, keys 1..8
    assert future <= hatch
    assert not {tuple(c) for c in cells[32:36, 0:36].reshape(-1, 3)} & hatch  # last row: none
    picture = heatmap_rgb(view.maps, 1, 2, ideal=ideal_mask("copy", view.maps.tokens))
    assert picture.ndim == 3 and picture.shape[2] == 3
    grid = grid_rgb(view.maps, head_stats(view.maps))
    small = grid_rgb(view.maps, layers=[0])
    assert grid.shape[0] > small.shape[0] and grid.shape[1] == small.shape[1]
    long_view = inspect_prompt(gpt(block_size=300, n_layer=1), TOK, TEXT * 8)
    assert grid_rgb(long_view.maps, thumb=64).shape[0] < 200  # downsampled thumbnails
