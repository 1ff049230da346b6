"""The seq2seq network: encoders (RNN, CNN), attention (dot, fixed, mlp, bilinear), decoders (RNN, CNN), and
beam search. Imported only by the training program and the handler (it imports torch).

RNN encoder: a bidirectional first layer (``rnn_num_hidden/2`` units each way, as AWS's, hence an even
``rnn_num_hidden``), further unidirectional layers, optional residual connections from
``rnn_first_residual_layer``. RNN decoder: stacked LSTM/GRU cells with input feeding (the previous attentional
hidden state joins the embedding), attention queried by the first layer and, with
``rnn_attention_in_upper_layers``, its context fed to the upper layers (GNMT-style, as Sockeye). CNN encoder and
decoder: gated convolutions with learned positions (Gehring et al.), the decoder causal, attending once from
its top layer. Every decoder exposes ``init_state``/``step`` over a list of batch-first tensors, so one beam
search serves both (beams are reordered with ``index_select`` on dimension 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL = ("<pad>", "<unk>", "<s>", "</s>")

# the hyperparameters the network is built from (saved in the artifact beside the weights)
CONFIG_KEYS = (
    "encoder_type", "decoder_type", "num_layers_encoder", "num_layers_decoder", "rnn_num_hidden",
    "rnn_cell_type", "rnn_attention_type", "rnn_attention_num_hidden", "rnn_attention_in_upper_layers",
    "rnn_decoder_state_init", "rnn_residual_connections", "rnn_first_residual_layer",
    "rnn_decoder_hidden_dropout", "cnn_activation_type", "cnn_hidden_dropout", "cnn_kernel_width_encoder",
    "cnn_kernel_width_decoder", "cnn_num_hidden", "num_embed_source", "num_embed_target",
    "embed_dropout_source", "embed_dropout_target", "max_seq_len_source", "max_seq_len_target", "beam_size",
)


def _activation(kind: str, y: torch.Tensor) -> torch.Tensor:
    if kind == "glu":
        return F.glu(y, dim=-1)
    if kind == "relu":
        return F.relu(y)
    if kind == "softrelu":
        return F.softplus(y)
    if kind == "sigmoid":
        return torch.sigmoid(y)
    return torch.tanh(y)


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] bool: True at real (non-padding) positions."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


class RNNEncoder(nn.Module):
    def __init__(self, cfg: dict, vocab_size: int):
        super().__init__()
        hidden, emb = cfg["rnn_num_hidden"], cfg["num_embed_source"]
        cell = nn.LSTM if cfg["rnn_cell_type"] == "lstm" else nn.GRU
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.drop = nn.Dropout(cfg["embed_dropout_source"])
        self.layers = nn.ModuleList(
            [cell(emb, hidden // 2, batch_first=True, bidirectional=True)]
            + [cell(hidden, hidden, batch_first=True) for _ in range(cfg["num_layers_encoder"] - 1)])
        self.residual = bool(cfg["rnn_residual_connections"])
        self.first_residual = int(cfg["rnn_first_residual_layer"])
        self.out_dim = hidden

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.embed(src))
        for i, rnn in enumerate(self.layers):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
            if self.residual and i > 0 and i + 1 >= self.first_residual:
                out = out + x
            x = out
        return x


class CNNEncoder(nn.Module):
    def __init__(self, cfg: dict, vocab_size: int):
        super().__init__()
        hidden, emb, k = cfg["cnn_num_hidden"], cfg["num_embed_source"], cfg["cnn_kernel_width_encoder"]
        self.act = cfg["cnn_activation_type"]
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.pos = nn.Embedding(cfg["max_seq_len_source"] + 1, emb)
        self.drop = nn.Dropout(cfg["embed_dropout_source"])
        self.hidden_drop = nn.Dropout(cfg["cnn_hidden_dropout"])
        self.inp = nn.Linear(emb, hidden)
        width = 2 * hidden if self.act == "glu" else hidden
        self.convs = nn.ModuleList(nn.Conv1d(hidden, width, k, padding=k // 2)
                                   for _ in range(cfg["num_layers_encoder"]))
        self.out_dim = hidden

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n = src.size(1)
        mask = length_mask(lengths.to(src.device), n).unsqueeze(-1).to(torch.float32)
        positions = torch.arange(n, device=src.device).clamp(max=self.pos.num_embeddings - 1)
        x = self.inp(self.drop(self.embed(src) + self.pos(positions)[None])) * mask
        for conv in self.convs:
            y = conv(x.transpose(1, 2)).transpose(1, 2)[:, :n]
            y = self.hidden_drop(_activation(self.act, y))
            x = (x + y) * math.sqrt(0.5) * mask  # padding stays zero, so a batch encodes as its rows one by one
        return x


class Attention(nn.Module):
    """Scores a query against the encoder states: ``dot`` (q.k, the query projected when sizes differ),
    ``bilinear`` (q W k), ``mlp`` (v . tanh(Wq q + Wk k), Bahdanau), ``fixed`` (uniform over the source)."""

    def __init__(self, kind: str, q_dim: int, k_dim: int, hidden: int):
        super().__init__()
        self.kind = kind
        if kind == "mlp":
            self.wq = nn.Linear(q_dim, hidden, bias=False)
            self.wk = nn.Linear(k_dim, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)
        elif kind == "bilinear":
            self.wk = nn.Linear(k_dim, q_dim, bias=False)
        elif kind == "dot" and q_dim != k_dim:
            self.wq = nn.Linear(q_dim, k_dim, bias=False)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        return self.wk(keys) if self.kind in ("mlp", "bilinear") else keys

    def forward(self, q: torch.Tensor, keys: torch.Tensor, pre: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "mlp":
            scores = self.v(torch.tanh(pre + self.wq(q)[:, None])).squeeze(-1)
        elif self.kind == "bilinear":
            scores = (pre * q[:, None]).sum(-1)
        elif self.kind == "dot":
            qq = self.wq(q) if hasattr(self, "wq") else q
            scores = (keys * qq[:, None]).sum(-1)
        else:
            scores = torch.zeros(mask.shape, device=keys.device, dtype=keys.dtype)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return (weights.unsqueeze(-1) * keys).sum(1), weights


class RNNDecoder(nn.Module):
    def __init__(self, cfg: dict, vocab_size: int, enc_dim: int):
        super().__init__()
        hidden, emb, layers = cfg["rnn_num_hidden"], cfg["num_embed_target"], cfg["num_layers_decoder"]
        self.lstm = cfg["rnn_cell_type"] == "lstm"
        cell = nn.LSTMCell if self.lstm else nn.GRUCell
        self.upper = bool(cfg["rnn_attention_in_upper_layers"])
        self.residual = bool(cfg["rnn_residual_connections"])
        self.first_residual = int(cfg["rnn_first_residual_layer"])
        self.state_init = cfg["rnn_decoder_state_init"]
        self.hidden = hidden
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.drop = nn.Dropout(cfg["embed_dropout_target"])
        self.hidden_drop = nn.Dropout(cfg["rnn_decoder_hidden_dropout"])
        self.cells = nn.ModuleList(
            [cell(emb + hidden, hidden)]
            + [cell(hidden + (enc_dim if self.upper else 0), hidden) for _ in range(layers - 1)])
        self.attention = Attention(cfg["rnn_attention_type"], hidden, enc_dim,
                                   cfg.get("rnn_attention_num_hidden") or hidden)
        self.combine = nn.Linear(hidden + enc_dim, hidden)
        self.out = nn.Linear(hidden, vocab_size)
        if self.state_init != "zero":
            self.init_h = nn.ModuleList(nn.Linear(enc_dim, hidden) for _ in range(layers))
            if self.lstm:
                self.init_c = nn.ModuleList(nn.Linear(enc_dim, hidden) for _ in range(layers))

    def precompute(self, enc_out: torch.Tensor) -> torch.Tensor:
        return self.attention.precompute(enc_out)

    def init_state(self, enc_out: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        b = enc_out.size(0)
        state: list[torch.Tensor] = []
        if self.state_init == "zero":
            zero = enc_out.new_zeros(b, self.hidden)
            for _ in self.cells:
                state += [zero, zero] if self.lstm else [zero]
        else:
            if self.state_init == "last":
                last = mask.sum(1) - 1
                summary = enc_out[torch.arange(b, device=enc_out.device), last]
            else:
                m = mask.unsqueeze(-1).to(enc_out.dtype)
                summary = (enc_out * m).sum(1) / m.sum(1).clamp(min=1)
            for i in range(len(self.cells)):
                state.append(torch.tanh(self.init_h[i](summary)))
                if self.lstm:
                    state.append(self.init_c[i](summary))
        state.append(enc_out.new_zeros(b, self.hidden))  # the previous attentional hidden (input feeding)
        return state

    def step(self, y_prev: torch.Tensor, state: list[torch.Tensor], enc_out: torch.Tensor, pre: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        per = 2 if self.lstm else 1
        x = torch.cat([self.drop(self.embed(y_prev)), state[-1]], dim=-1)
        new: list[torch.Tensor] = []
        below = context = weights = torch.empty(0)
        for i, cell in enumerate(self.cells):
            if self.lstm:
                h, c = cell(x, (state[per * i], state[per * i + 1]))
                new += [h, c]
            else:
                h = cell(x, state[i])
                new.append(h)
            if i == 0:
                context, weights = self.attention(h, enc_out, pre, mask)
            elif self.residual and i + 1 >= self.first_residual:
                h = h + below
            below = h
            x = torch.cat([h, context], dim=-1) if self.upper else h
        hidden = self.hidden_drop(torch.tanh(self.combine(torch.cat([below, context], dim=-1))))
        new.append(hidden)
        return self.out(hidden), weights, new

    def teacher(self, y_in: torch.Tensor, enc_out: torch.Tensor, pre: torch.Tensor, mask: torch.Tensor
                ) -> torch.Tensor:
        state = self.init_state(enc_out, mask)
        logits = []
        for t in range(y_in.size(1)):
            out, _, state = self.step(y_in[:, t], state, enc_out, pre, mask)
            logits.append(out)
        return torch.stack(logits, dim=1)


class CNNDecoder(nn.Module):
    def __init__(self, cfg: dict, vocab_size: int, enc_dim: int):
        super().__init__()
        hidden, emb, k = cfg["cnn_num_hidden"], cfg["num_embed_target"], cfg["cnn_kernel_width_decoder"]
        self.act, self.k = cfg["cnn_activation_type"], k
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.pos = nn.Embedding(cfg["max_seq_len_target"] + 2, emb)
        self.drop = nn.Dropout(cfg["embed_dropout_target"])
        self.hidden_drop = nn.Dropout(cfg["cnn_hidden_dropout"])
        self.inp = nn.Linear(emb, hidden)
        width = 2 * hidden if self.act == "glu" else hidden
        self.convs = nn.ModuleList(nn.Conv1d(hidden, width, k) for _ in range(cfg["num_layers_decoder"]))
        self.query = nn.Linear(hidden, enc_dim)
        self.combine = nn.Linear(hidden + enc_dim, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def precompute(self, enc_out: torch.Tensor) -> torch.Tensor:
        return enc_out

    def _run(self, y_in: torch.Tensor, enc_out: torch.Tensor, mask: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        n = y_in.size(1)
        positions = torch.arange(n, device=y_in.device).clamp(max=self.pos.num_embeddings - 1)
        x = self.inp(self.drop(self.embed(y_in) + self.pos(positions)[None]))
        for conv in self.convs:  # causal: each position sees itself and the k-1 before it
            y = conv(F.pad(x.transpose(1, 2), (self.k - 1, 0))).transpose(1, 2)
            x = (x + self.hidden_drop(_activation(self.act, y))) * math.sqrt(0.5)
        scores = torch.bmm(self.query(x), enc_out.transpose(1, 2))
        weights = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)
        context = torch.bmm(weights, enc_out)
        hidden = torch.tanh(self.combine(torch.cat([x, context], dim=-1)))
        return self.out(hidden), weights

    def init_state(self, enc_out: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return [torch.zeros(enc_out.size(0), 0, dtype=torch.long, device=enc_out.device)]

    def step(self, y_prev: torch.Tensor, state: list[torch.Tensor], enc_out: torch.Tensor, pre: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        tokens = torch.cat([state[0], y_prev[:, None]], dim=1)  # the whole prefix, re-run each step
        logits, weights = self._run(tokens, enc_out, mask)
        return logits[:, -1], weights[:, -1], [tokens]

    def teacher(self, y_in: torch.Tensor, enc_out: torch.Tensor, pre: torch.Tensor, mask: torch.Tensor
                ) -> torch.Tensor:
        return self._run(y_in, enc_out, mask)[0]


class Seq2Seq(nn.Module):
    def __init__(self, cfg: dict, src_vocab: int, trg_vocab: int):
        super().__init__()
        self.cfg = dict(cfg)
        self.encoder: nn.Module = (RNNEncoder if cfg["encoder_type"] == "rnn" else CNNEncoder)(cfg, src_vocab)
        enc_dim = self.encoder.out_dim
        self.decoder: Any = (RNNDecoder if cfg["decoder_type"] == "rnn" else CNNDecoder)(cfg, trg_vocab, enc_dim)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc_out = self.encoder(src, lengths)
        mask = length_mask(lengths.to(src.device), src.size(1))
        return enc_out, self.decoder.precompute(enc_out), mask

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, y_in: torch.Tensor) -> torch.Tensor:
        enc_out, pre, mask = self.encode(src, lengths)
        return self.decoder.teacher(y_in, enc_out, pre, mask)


def initialize(model: nn.Module, kind: str, scale: float, factor: str) -> None:
    """AWS's (MXNet's) initialisers: ``xavier`` uniform in +-sqrt(scale / fan) with fan_in, fan_out or their
    mean; ``uniform`` in +-scale. Matrices only; biases start at zero."""
    for p in model.parameters():
        if p.dim() < 2:
            nn.init.zeros_(p)
            continue
        if kind == "uniform":
            nn.init.uniform_(p, -scale, scale)
            continue
        fan_out = p.size(0)
        fan_in = p[0].numel()
        fan = {"in": fan_in, "out": fan_out}.get(factor, (fan_in + fan_out) / 2.0)
        bound = math.sqrt(scale / fan)
        nn.init.uniform_(p, -bound, bound)


def beam_search(model: Seq2Seq, src_ids: list[int], beam: int, max_len: int, device: Any
                ) -> tuple[list[int], list[list[float]]]:
    """The best target ids (without ``</s>``) for one source sentence and, per target token, its attention over
    the source tokens. Scores are log-probabilities divided by the output length (with ``</s>``); a hypothesis
    ends at ``</s>`` or after ``max_len`` tokens. One sentence at a time, so an answer never depends on the
    other sentences of a request."""
    dec = model.decoder
    src = torch.tensor([src_ids], dtype=torch.long, device=device)
    lengths = torch.tensor([len(src_ids)], dtype=torch.long)
    enc_out, pre, mask = model.encode(src, lengths)
    state = dec.init_state(enc_out, mask)
    scores = torch.zeros(1, device=device)
    tokens: list[list[int]] = [[]]
    attention: list[list[list[float]]] = [[]]
    finished: list[tuple[float, int, list[int], list[list[float]]]] = []
    y_prev = torch.tensor([BOS], dtype=torch.long, device=device)
    for t in range(max_len + 1):
        n = y_prev.size(0)
        logits, weights, state = dec.step(y_prev, state, enc_out.expand(n, -1, -1), pre.expand(n, -1, -1),
                                          mask.expand(n, -1))
        logp = torch.log_softmax(logits.float(), dim=-1)
        logp[:, PAD] = float("-inf")
        logp[:, BOS] = float("-inf")
        if t == max_len:  # out of room: only </s> may follow
            eos = logp[:, EOS].clone()
            logp.fill_(float("-inf"))
            logp[:, EOS] = eos
        vocab = logp.size(1)
        cand = (scores[:, None] + logp).reshape(-1)
        top_scores, top_idx = cand.topk(min(2 * beam, cand.numel()))
        keep_hyp: list[int] = []
        keep_tok: list[int] = []
        keep_score: list[float] = []
        for s, idx in zip(top_scores.tolist(), top_idx.tolist()):
            if s == float("-inf"):
                break
            hyp, tok = divmod(idx, vocab)
            if tok == EOS:
                finished.append((s / (len(tokens[hyp]) + 1), len(finished), tokens[hyp], attention[hyp]))
            elif len(keep_hyp) < beam:
                keep_hyp.append(hyp)
                keep_tok.append(tok)
                keep_score.append(s)
            if len(keep_hyp) >= beam and len(finished) >= beam:
                break
        if len(finished) >= beam or not keep_hyp:
            break
        rows = weights.float().cpu().tolist()
        tokens = [tokens[h] + [tok] for h, tok in zip(keep_hyp, keep_tok)]
        attention = [attention[h] + [rows[h]] for h in keep_hyp]
        index = torch.tensor(keep_hyp, dtype=torch.long, device=device)
        state = [s.index_select(0, index) for s in state]
        scores = torch.tensor(keep_score, device=device)
        y_prev = torch.tensor(keep_tok, dtype=torch.long, device=device)
    if not finished:
        return tokens[0], attention[0]
    best = max(finished, key=lambda f: (f[0], -f[1]))
    return best[2], best[3]
