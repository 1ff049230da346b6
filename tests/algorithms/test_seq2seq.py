"""seq2seq: it learns a toy translation, refuses bad data with clear messages, and serves AWS's shapes.

Training runs in-process (``builtin._run``, as ``python -m ...train`` does) on the toy language pair of
``seq2seq.sample``: a word-for-word mapping that swaps neighbouring words.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shipyard.algorithms.builtin import _run  # noqa: E402
from shipyard.algorithms.seq2seq import ALGORITHM  # noqa: E402
from shipyard.algorithms.seq2seq import data as D  # noqa: E402
from shipyard.algorithms.seq2seq import model as M  # noqa: E402
from shipyard.algorithms.seq2seq import sample  # noqa: E402
from shipyard.algorithms.seq2seq.handler import Seq2SeqHandler  # noqa: E402
from shipyard.algorithms.seq2seq.train import train  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.io.protobuf import Tensor, decode_record, encode_record  # noqa: E402
from shipyard.io.recordio import frame, split_records  # noqa: E402
from shipyard.testing.algorithm_harness import logged_metrics, prepare_job  # noqa: E402

RECORDIO = "application/x-recordio-protobuf"
SMALL = {"rnn_num_hidden": "32", "num_embed_source": "16", "num_embed_target": "16", "rnn_cell_type": "gru",
         "batch_size": "32", "learning_rate": "0.01", "beam_size": "3", "bleu_sample_size": "-1",
         "max_seq_len_source": "12", "max_seq_len_target": "12"}


def _train(base: Path, hps: dict, channels: dict, monkeypatch) -> tuple[int, str, str]:
    """(exit code, printed log, failure file) of one in-process training run under ``base``."""
    prepare_job(base, hps, channels)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    for k in [k for k in os.environ if k.startswith("SM_")]:
        monkeypatch.delenv(k)
    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = _run(ALGORITHM, train)
    finally:
        torch.set_num_threads(threads)
    failure = base / "output" / "failure"
    return code, out.getvalue(), failure.read_text() if failure.exists() else ""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small networks on one torch thread, as the training program runs them (threads contend on a busy
    machine); restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(tmp_path_factory, name: str, hps: dict, n_train: int) -> tuple[Path, str]:
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp(name)
    try:
        code, log, failure = _train(base, {**SMALL, **hps}, sample.channels(n_train, 60), mp)
    finally:
        mp.undo()
    assert code == 0, log[-2000:] + failure
    return base / "model", log


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained to convergence on the toy pair (about 10 CPU seconds), and its training log."""
    return _model(tmp_path_factory, "seq2seq", {"max_num_epochs": "12", "bleu_sample_size": "30"}, 600)


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """A handler over a barely trained model (two epochs): enough for the shapes of the answers."""
    model_dir, _ = _model(tmp_path_factory, "seq2seq-quick", {"max_num_epochs": "2"}, 200)
    return Seq2SeqHandler(str(model_dir))


@pytest.mark.slow
def test_learns_the_toy_translation(trained):
    model_dir, log = trained
    handler = Seq2SeqHandler(str(model_dir))
    metrics = logged_metrics(log, ALGORITHM.metrics)
    assert metrics["validation:accuracy"] > 0.9, log[-2000:]
    assert metrics["validation:bleu"] > 0.7, log[-2000:]
    assert metrics["validation:perplexity"] < 1.5, log[-2000:]
    assert {p.name for p in model_dir.iterdir()} == {"seq2seq.pt", "vocab.src.json", "vocab.trg.json"}
    held_out = sample.corpus(40, seed=123)
    body = json.dumps({"instances": [{"data": s} for s, _ in held_out]}).encode()
    out, ct = handler.invoke(body, "application/json", "application/json")
    got = [p["target"] for p in json.loads(out)["predictions"]]
    exact = np.mean([g == t for g, (_, t) in zip(got, held_out)])
    assert exact >= 0.75, list(zip(got, held_out))


def test_attention_matrix_when_asked(handler):
    src = "the cat sees a dog"
    body = json.dumps({"instances": [{"data": src, "configuration": {"attention_matrix": "true"}},
                                     {"data": src}]}).encode()
    preds = json.loads(handler.invoke(body, "application/json", "application/json")[0])["predictions"]
    first, second = preds
    assert "matrix" not in second and second["target"] == first["target"]
    matrix = np.array(first["matrix"])
    assert matrix.shape == (len(first["target"].split()), len(src.split()))
    np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-4)


def test_serving_formats(handler):
    sentences = ["the cat", "a big red house runs", "fish eats dog"]
    vs, vt = sample.vocabularies()
    rev = {i: w for w, i in vt.items()}
    j = json.loads(handler.invoke(json.dumps({"instances": [{"data": s} for s in sentences]}).encode(),
                                  "application/json", "")[0])
    lines = handler.invoke("\n".join(json.dumps({"data": s}) for s in sentences).encode(),
                           "application/jsonlines", "application/jsonlines")[0].decode().splitlines()
    assert [json.loads(x)["target"] for x in lines] == [p["target"] for p in j["predictions"]]
    body = b"".join(sample.record(sample.ids(s, vs)) for s in sentences)
    out, ct = handler.invoke(body, RECORDIO, "")  # recordio answers recordio by default, as AWS's
    assert ct == RECORDIO
    targets = [decode_record(p).features["target"].values.tolist() for p in split_records(out)]
    assert [" ".join(rev[i] for i in t) for t in targets] == [p["target"] for p in j["predictions"]]
    # features["values"] (the generic layout) works too; unknown words become <unk> and still translate
    generic = frame(encode_record({"values": Tensor(np.array(sample.ids("the cat", vs), dtype=np.int32))}))
    assert handler.invoke(generic, RECORDIO, "application/json")[0] == handler.invoke(
        json.dumps({"instances": [{"data": "the cat"}]}).encode(), "application/json", "application/json")[0]
    unk = json.loads(handler.invoke(json.dumps({"instances": [{"data": "the zebra"}]}).encode(),
                                    "application/json", "application/json")[0])
    assert len(unk["predictions"][0]["target"].split()) >= 1


@pytest.mark.parametrize("body, ct, fragment", [
    (b'{"data": "x"}', "application/json", "instances"),
    (b'{"instances": [{"data": 5}]}', "application/json", "Instance 0"),
    (b"not json", "application/json", "not valid JSON"),
    (b'{"data": "the cat"}\n{oops', "application/jsonlines", "Line 2"),
    (b"\x00garbage", RECORDIO, "RecordIO"),
    (b"the cat", "text/csv", "not supported"),
])
def test_bad_requests_are_client_errors(handler, body, ct, fragment):
    with pytest.raises(ValidationError, match=fragment):
        handler.invoke(body, ct, "application/json")


def test_recordio_request_ids_beyond_vocabulary(handler):
    with pytest.raises(ValidationError, match="outside the source vocabulary"):
        handler.invoke(sample.record([4, 5, 999]), RECORDIO, "application/json")


def test_missing_vocab_channel_fails_as_client_error(tmp_path, monkeypatch):
    channels = sample.channels(50, 10)
    del channels["vocab"]
    code, _, failure = _train(tmp_path, SMALL, channels, monkeypatch)
    assert code == 1 and failure.startswith("ClientError:") and "'vocab' channel" in failure, failure


def test_vocab_without_special_tokens_is_refused(tmp_path, monkeypatch):
    channels = sample.channels(50, 10)
    files, ct = channels["vocab"]
    channels["vocab"] = ({**files, "vocab.src.json": json.dumps({"the": 0, "cat": 1}).encode()}, ct)
    code, _, failure = _train(tmp_path, SMALL, channels, monkeypatch)
    assert code == 1 and "<pad>=0" in failure, failure


def test_ids_beyond_the_vocabulary_fail_as_client_error(tmp_path, monkeypatch):
    channels = sample.channels(50, 10)
    bad = sample.record([4, 5, 40], [4, 5])
    channels["train"] = ({"train.rec": channels["train"][0]["train.rec"] + bad}, RECORDIO)
    code, _, failure = _train(tmp_path, SMALL, channels, monkeypatch)
    assert code == 1 and failure.startswith("ClientError:"), failure
    assert "Record 50 of train/train.rec" in failure and "source token id 40" in failure, failure


def test_float_tensors_and_garbage_files_are_refused(tmp_path, monkeypatch):
    channels = sample.channels(50, 10)
    floats = frame(encode_record({"source": Tensor(np.array([4.0, 5.0], dtype=np.float32)),
                                  "target": Tensor(np.array([4.0], dtype=np.float32))}))
    channels["validation"] = ({"val.rec": floats}, RECORDIO)
    code, _, failure = _train(tmp_path / "a", SMALL, channels, monkeypatch)
    assert code == 1 and "Int32" in failure, failure
    channels["validation"] = ({"val.rec": b"this is text, not records"}, RECORDIO)
    code, _, failure = _train(tmp_path / "b", SMALL, channels, monkeypatch)
    assert code == 1 and "not RecordIO-protobuf" in failure, failure


def test_generic_record_layout_is_read(tmp_path):
    payload = encode_record({"values": Tensor(np.array([4, 5], dtype=np.int32))},
                            label={"values": Tensor(np.array([6], dtype=np.int32))})
    (tmp_path / "part").write_bytes(frame(payload))
    pairs = D.read_pairs(tmp_path, "train", 16, 16, 100, 100)
    assert [(s.tolist(), t.tolist()) for s, t in pairs] == [([4, 5], [6])]


def test_odd_rnn_num_hidden_refused_for_rnn_encoder_only():
    with pytest.raises(ValidationError, match="'rnn_num_hidden'.*even"):
        ALGORITHM.validate({"rnn_num_hidden": "33"})
    assert ALGORITHM.validate({"rnn_num_hidden": "33", "encoder_type": "cnn"})["rnn_num_hidden"] == 33


def test_bleu():
    assert D.corpus_bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]) == pytest.approx(1.0)
    assert D.corpus_bleu([[9, 9]], [[1, 2, 3]]) == 0.0
    assert 0 < D.corpus_bleu([[1, 2, 3, 9]], [[1, 2, 3, 4]]) < 1


ARCHITECTURES = [
    {"encoder_type": "rnn", "decoder_type": "rnn", "rnn_attention_type": a, "rnn_cell_type": c}
    for a in ("dot", "fixed", "mlp", "bilinear") for c in ("lstm", "gru")
] + [
    {"encoder_type": "cnn", "decoder_type": "rnn", "rnn_decoder_state_init": "avg", "cnn_activation_type": "relu"},
    {"encoder_type": "rnn", "decoder_type": "cnn", "cnn_kernel_width_decoder": "3"},
    {"encoder_type": "cnn", "decoder_type": "cnn", "num_layers_encoder": "2", "num_layers_decoder": "2"},
    {"num_layers_encoder": "3", "num_layers_decoder": "3", "rnn_residual_connections": "true",
     "rnn_decoder_state_init": "zero", "rnn_attention_in_upper_layers": "false"},
]


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(a.values()))
def test_each_architecture_trains_a_step_and_decodes(arch):
    hps = ALGORITHM.validate({**SMALL, "cnn_num_hidden": "16", "rnn_num_hidden": "16", **arch})
    cfg = {k: hps.get(k) for k in M.CONFIG_KEYS}
    torch.manual_seed(0)
    net = M.Seq2Seq(cfg, 16, 16)
    M.initialize(net, "xavier", 2.34, "in")
    vs, vt = sample.vocabularies()
    pairs = [(np.array(sample.ids(s, vs)), np.array(sample.ids(t, vt))) for s, t in sample.corpus(8, 0)]
    src, lengths, y_in, y_out = (torch.from_numpy(a) for a in D.pad(pairs, list(range(8))))
    logits = net(src, lengths, y_in)
    assert logits.shape == (8, y_in.size(1), 16)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 16), y_out.reshape(-1), ignore_index=0).backward()
    net.eval()
    with torch.inference_mode():
        # a padded batch scores each row as that row alone (padding is masked everywhere)
        alone = net(src[:1, :lengths[0]], lengths[:1], y_in[:1])
        np.testing.assert_allclose(net(src, lengths, y_in)[:1].numpy(), alone.numpy(), atol=1e-5)
        ids, att = M.beam_search(net, pairs[0][0].tolist(), 3, 12, torch.device("cpu"))
    assert len(ids) == len(att) <= 12 and all(len(r) == len(pairs[0][0]) for r in att)


def test_checkpoints_keep_the_best_and_stop_at_max_num_batches(tmp_path, monkeypatch):
    hps = {**SMALL, "max_num_batches": "5", "checkpoint_frequency_num_batches": "2", "bleu_sample_size": "0",
           "batch_size": "16"}
    code, log, failure = _train(tmp_path, hps, sample.channels(200, 20), monkeypatch)
    assert code == 0, failure
    checkpoints = [line for line in log.splitlines() if "] checkpoint " in line]
    assert [c.split(", ")[1] for c in checkpoints] == ["2 batches", "4 batches", "5 batches"], checkpoints
    values = [float(line.split("<score>=")[1]) for line in log.splitlines() if "validation perplexity" in line
              and "<score>" in line]
    assert len(values) == 4 and values[-1] == min(values[:-1]), values  # the best checkpoint's, logged last
    assert "validation bleu" not in log


@pytest.mark.parametrize("hps", [
    {"optimizer_type": "sgd", "momentum": "0.9", "lr_scheduler_type": "fixed_rate_inv_t"},
    {"optimizer_type": "rmsprop", "lr_scheduler_type": "fixed_rate_inv_sqrt_t", "weight_init_type": "uniform",
     "weight_init_scale": "0.1"},
    {"optimized_metric": "accuracy", "bucketing_enabled": "false", "clip_gradient": "-1", "weight_decay": "0.01"},
], ids=["sgd-inv_t", "rmsprop-inv_sqrt_t", "accuracy-unbucketed"])
def test_optimizers_and_schedules_run(tmp_path, monkeypatch, hps):
    run = {**SMALL, "max_num_batches": "4", "checkpoint_frequency_num_batches": "2", "bleu_sample_size": "0",
           "batch_size": "16", "fixed_rate_lr_half_life": "1", **hps}
    code, log, failure = _train(tmp_path, run, sample.channels(100, 20), monkeypatch)
    assert code == 0, failure
    rates = [float(line.rsplit("learning rate ", 1)[1]) for line in log.splitlines() if "] checkpoint " in line]
    if "fixed_rate" in hps.get("lr_scheduler_type", ""):
        assert rates[1] < rates[0], rates  # the checkpoint's line shows the rate it trained with
    assert "best checkpoint" in log
