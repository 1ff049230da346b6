"""seq2seq side by side with what a user would otherwise write: a plain PyTorch ``nn.Transformer`` script.

The task: the toy translation pair of ``shipyard.algorithms.seq2seq.sample`` (a word-for-word mapping that swaps
neighbouring words), sentences of 3 to 7 words; both sides see the same train/test sentences.

* ours: the seq2seq training program in-process through the same TrainingRun it uses under /opt/ml (the
  RecordIO channel files are read, so reading is in our time), an LSTM encoder-decoder with MLP attention,
  then the handler translating the test sentences by beam search (beam 5);
* the baseline: a user's script, ``nn.Transformer`` (2+2 layers, d_model 64, 4 heads), Adam, teacher forcing,
  trained in-process for the same wall-clock time our training took, then greedy decoding.

Printed: training time, test BLEU (corpus BLEU-4, as ours logs it) and exact-sentence rate, the training time
until validation BLEU first reaches 0.95 (ours: at its checkpoints, whose BLEU decoding is on its clock; the
baseline: after each epoch, decoding off its clock), and the ratios.
Both run with one torch thread (small networks: threads only add noise on a busy machine).
Run: ``python bench/bench_seq2seq.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from shipyard.algorithms.seq2seq import data as D  # noqa: E402
from shipyard.algorithms.seq2seq import sample  # noqa: E402

PAD, BOS, EOS = 0, 2, 3
TARGET_BLEU = 0.95
warnings.filterwarnings("ignore", message=".*nested tensors.*")


def run_ours(train_pairs, val_pairs, test_src, epochs: int) -> tuple[float, float, list[str]]:
    import json

    from shipyard.algorithms.builtin import TrainingRun
    from shipyard.algorithms.env import TrainingEnv
    from shipyard.algorithms.seq2seq import ALGORITHM
    from shipyard.algorithms.seq2seq.handler import Seq2SeqHandler
    from shipyard.algorithms.seq2seq.train import train
    from shipyard.testing.algorithm_harness import prepare_job

    vs, vt = sample.vocabularies()
    rec = "application/x-recordio-protobuf"
    channels = {
        "train": ({"train.rec": sample.recordio(train_pairs, vs, vt)}, rec),
        "validation": ({"val.rec": sample.recordio(val_pairs, vs, vt)}, rec),
        "vocab": ({"vocab.src.json": json.dumps(vs).encode(), "vocab.trg.json": json.dumps(vt).encode()},
                  "application/json"),
    }
    hps = {"rnn_num_hidden": "64", "num_embed_source": "32", "num_embed_target": "32", "batch_size": "64",
           "learning_rate": "0.005", "max_num_epochs": str(epochs), "max_seq_len_source": "16",
           "max_seq_len_target": "16", "checkpoint_threshold": "3", "bleu_sample_size": "-1"}
    base = Path(tempfile.mkdtemp(prefix="bench-seq2seq-"))
    prepare_job(base, hps, channels)
    os.environ["SAGEMAKER_BASE_DIR"] = str(base)
    start = time.perf_counter()
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        train(TrainingRun(ALGORITHM, TrainingEnv.load()))
    seconds = time.perf_counter() - start
    reached = math.inf  # the first checkpoint whose validation BLEU reaches the target (its log line's clock)
    for line in log.getvalue().splitlines():
        if "] checkpoint " in line and float(line.split("validation bleu ")[1].split(",")[0]) >= TARGET_BLEU:
            reached = float(line.split("batches, ")[1].split("s)")[0])
            break
    handler = Seq2SeqHandler(str(base / "model"))
    body = json.dumps({"instances": [{"data": s} for s in test_src]}).encode()
    out = json.loads(handler.invoke(body, "application/json", "application/json")[0])
    shutil.rmtree(base, ignore_errors=True)
    return seconds, reached, [p["target"] for p in out["predictions"]]


class TransformerBaseline(nn.Module):
    """What a user would write with torch's own building blocks."""

    def __init__(self, n_src: int, n_trg: int, d: int = 64, max_len: int = 32):
        super().__init__()
        self.src_embed, self.trg_embed = nn.Embedding(n_src, d, padding_idx=PAD), nn.Embedding(n_trg, d)
        self.pos = nn.Embedding(max_len, d)
        self.core = nn.Transformer(d, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128,
                                   dropout=0.0, batch_first=True)
        self.out = nn.Linear(d, n_trg)

    def forward(self, src, y_in):
        pos_s = self.pos(torch.arange(src.size(1)))[None]
        pos_t = self.pos(torch.arange(y_in.size(1)))[None]
        causal = self.core.generate_square_subsequent_mask(y_in.size(1))
        h = self.core(self.src_embed(src) + pos_s, self.trg_embed(y_in) + pos_t, tgt_mask=causal,
                      src_key_padding_mask=src == PAD, memory_key_padding_mask=src == PAD)
        return self.out(h)

    @torch.inference_mode()
    def greedy(self, src_ids: list[int], max_len: int = 16) -> list[int]:
        src = torch.tensor([src_ids])
        ys = [BOS]
        for _ in range(max_len):
            nxt = int(self(src, torch.tensor([ys]))[0, -1].argmax())
            if nxt == EOS:
                break
            ys.append(nxt)
        return ys[1:]


def run_baseline(train_ids, val_ids, test_src_ids, seconds: float) -> tuple[int, float, float, list[list[int]]]:
    torch.manual_seed(0)
    model = TransformerBaseline(16, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    epochs, trained, reached = 0, 0.0, math.inf
    while trained < seconds:
        start = time.perf_counter()
        for index in D.batches(train_ids, 64, False, 10, rng):
            src, _, y_in, y_out = (torch.from_numpy(a) for a in D.pad(train_ids, index))
            loss = nn.functional.cross_entropy(model(src, y_in).reshape(-1, 16), y_out.reshape(-1),
                                               ignore_index=PAD)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if trained + time.perf_counter() - start >= seconds:
                break
        epochs += 1
        trained += time.perf_counter() - start
        if reached == math.inf:  # validation BLEU after each epoch, off the clock (ours counts its own)
            model.eval()
            hyps = [model.greedy(s.tolist()) for s, _ in val_ids]
            model.train()
            if D.corpus_bleu(hyps, [t.tolist() for _, t in val_ids]) >= TARGET_BLEU:
                reached = trained
    model.eval()
    return epochs, trained, reached, [model.greedy(s) for s in test_src_ids]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer sentences and epochs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_train, n_test, epochs = (1000, 100, 10) if args.quick else (4000, 300, 20)
    train_pairs, val_pairs = sample.corpus(n_train, 0), sample.corpus(100, 1)
    test_pairs = sample.corpus(n_test, 2)
    vs, vt = sample.vocabularies()
    test_src = [s for s, _ in test_pairs]
    refs = [sample.ids(t, vt) for _, t in test_pairs]

    ours_s, ours_reach, ours_out = run_ours(train_pairs, val_pairs, test_src, epochs)
    ours_ids = [sample.ids(t, vt) for t in ours_out]
    ours_bleu = D.corpus_bleu(ours_ids, refs)
    ours_exact = np.mean([o == r for o, r in zip(ours_ids, refs)])

    train_ids = [(np.array(sample.ids(s, vs)), np.array(sample.ids(t, vt))) for s, t in train_pairs]
    val_ids = [(np.array(sample.ids(s, vs)), np.array(sample.ids(t, vt))) for s, t in val_pairs]
    base_epochs, base_s, base_reach, base_ids = run_baseline(train_ids, val_ids, [sample.ids(s, vs) for s in test_src],
                                                             ours_s)
    base_bleu = D.corpus_bleu(base_ids, refs)
    base_exact = np.mean([o == r for o, r in zip(base_ids, refs)])

    print(f"toy translation: {n_train} training pairs, {n_test} test sentences, one torch thread")
    print(f"{'':34}{'train s':>9}{'BLEU':>8}{'exact':>8}{f's to BLEU {TARGET_BLEU}':>16}")
    print(f"{'seq2seq (ours, LSTM+attention)':34}{ours_s:9.1f}{ours_bleu:8.3f}{ours_exact:8.3f}{ours_reach:16.1f}")
    print(f"{'nn.Transformer script (same time)':34}{base_s:9.1f}{base_bleu:8.3f}{base_exact:8.3f}"
          f"{base_reach:16.1f}   ({base_epochs} epochs)")
    ratio = ours_bleu / base_bleu if base_bleu > 0 else math.inf
    print(f"ratios ours/baseline: BLEU {ratio:.2f}x, exact {ours_exact / max(base_exact, 1e-9):.2f}x, "
          f"time {ours_s / base_s:.2f}x, time to validation BLEU {TARGET_BLEU} {ours_reach / base_reach:.2f}x")


if __name__ == "__main__":
    main()
