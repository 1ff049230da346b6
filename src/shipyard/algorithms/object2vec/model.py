"""The Object2Vec network in torch: two encoders, a comparator, an MLP and the output layer.

Kept apart from training and serving so both build the same network from the same saved ``config`` (a plain
dict, written beside the weights as JSON). Token id ``vocab_size`` is the padding row of each embedding table:
padded positions are masked in every encoder, so an instance gets the same encoding whatever else shares its
mini-batch (the model server's "a batch answers as one by one" rule).
"""

from __future__ import annotations

from typing import Any

from ..neural import import_torch

torch = import_torch()
nn = torch.nn
Module: Any = nn.Module  # torch is imported at run time (import_torch), so its classes are Any to mypy


def encoder_config(hps: dict[str, Any], i: int) -> dict[str, Any]:
    """The settings of encoder ``i`` (0 or 1): enc1's missing vocabulary size and length are enc0's; with
    ``enc1_network=enc0`` it is enc0; with ``tied_token_embedding_weight`` its token table (vocabulary size and
    token dimension) is enc0's."""
    net = hps[f"enc{i}_network"]
    src = 0 if net == "enc0" else i
    table = 0 if hps["tied_token_embedding_weight"] else src  # whose token embedding table encoder i uses
    layers = hps[f"enc{src}_layers"]
    return {
        "network": hps[f"enc{src}_network"],
        "vocab_size": int(hps.get(f"enc{table}_vocab_size") or hps["enc0_vocab_size"]),
        "max_seq_len": int(hps.get(f"enc{i}_max_seq_len") or hps["enc0_max_seq_len"]),
        "token_dim": int(hps[f"enc{table}_token_embedding_dim"]),
        "layers": 1 if layers == "auto" else int(layers),
        "filter_width": int(hps[f"enc{src}_cnn_filter_width"]),
    }


def model_config(hps: dict[str, Any]) -> dict[str, Any]:
    """What the network needs to be rebuilt at serving time (saved as ``object2vec.json``)."""
    return {
        "enc0": encoder_config(hps, 0), "enc1": encoder_config(hps, 1),
        "shared_encoder": hps["enc1_network"] == "enc0",
        "tied_token_embedding": bool(hps["tied_token_embedding_weight"]),
        "enc_dim": int(hps["enc_dim"]), "comparators": list(hps["comparator_list"]),
        "mlp_dim": int(hps["mlp_dim"]), "mlp_layers": int(hps["mlp_layers"]),
        "mlp_activation": hps["mlp_activation"], "dropout": float(hps["dropout"]),
        "output_layer": hps["output_layer"], "num_classes": int(hps["num_classes"]),
    }


class Encoder(Module):
    """One encoder: token ids [B, T] padded with ``vocab_size`` -> [B, enc_dim]."""

    def __init__(self, cfg: dict[str, Any], enc_dim: int, dropout: float, embedding: Any = None):
        super().__init__()
        self.network = cfg["network"]
        self.pad = cfg["vocab_size"]
        d = cfg["token_dim"]
        if embedding is None:
            embedding = nn.Embedding(cfg["vocab_size"] + 1, d, padding_idx=self.pad)
            with torch.no_grad():  # small initial vectors (MXNet's uniform(-0.07, 0.07)), not torch's N(0, 1)
                embedding.weight.uniform_(-0.07, 0.07)
                embedding.weight[self.pad].zero_()
        self.embedding = embedding
        self.dropout = nn.Dropout(dropout)
        if self.network == "hcnn":
            # hierarchical CNN: stacked same-length convolutions, then max over the sequence
            self.convs = nn.ModuleList(
                nn.Conv1d(d if k == 0 else enc_dim, enc_dim, cfg["filter_width"], padding="same")
                for k in range(cfg["layers"]))
            self.out = nn.Identity()
        elif self.network == "bilstm":
            hidden = max(1, enc_dim // 2)
            self.lstm = nn.LSTM(d, hidden, num_layers=cfg["layers"], batch_first=True, bidirectional=True,
                                dropout=dropout if cfg["layers"] > 1 else 0.0)
            self.out = nn.Linear(2 * hidden, enc_dim)
        else:  # pooled_embedding: the mean of the token embeddings
            self.out = nn.Linear(d, enc_dim)

    def forward(self, ids: Any) -> Any:
        mask = ids != self.pad                                   # [B, T]
        lengths = mask.sum(dim=1).clamp(min=1)
        x = self.dropout(self.embedding(ids))                    # [B, T, d]
        if self.network == "hcnn":
            h = x.transpose(1, 2)                                # [B, d, T]
            m = mask.unsqueeze(1)
            for conv in self.convs:
                h = torch.relu(conv(h)).masked_fill(~m, 0.0)     # padded positions stay zero
            h = h.masked_fill(~m, float("-inf")).amax(dim=2)
            return self.out(h)
        if self.network == "bilstm":
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (hn, _) = self.lstm(packed)
            return self.out(torch.cat([hn[-2], hn[-1]], dim=1))   # last layer, both directions
        pooled = (x * mask.unsqueeze(2)).sum(dim=1) / lengths.unsqueeze(1)
        return self.out(pooled)


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "linear": nn.Identity}


class Object2VecNet(Module):
    def __init__(self, cfg: dict[str, Any]):
        super().__init__()
        self.cfg = cfg
        enc_dim, p = cfg["enc_dim"], cfg["dropout"]
        self.enc0 = Encoder(cfg["enc0"], enc_dim, p)
        if cfg["shared_encoder"]:
            self.enc1 = self.enc0
        else:
            shared = self.enc0.embedding if cfg["tied_token_embedding"] else None
            self.enc1 = Encoder(cfg["enc1"], enc_dim, p, embedding=shared)
        width = sum({"hadamard": 1, "abs_diff": 1, "concat": 2}[c] for c in cfg["comparators"]) * enc_dim
        layers: list[Any] = []
        for _ in range(cfg["mlp_layers"]):
            layers += [nn.Linear(width, cfg["mlp_dim"]), _ACTIVATIONS[cfg["mlp_activation"]](), nn.Dropout(p)]
            width = cfg["mlp_dim"]
        out = cfg["num_classes"] if cfg["output_layer"] == "softmax" else 1
        layers.append(nn.Linear(width, out))
        self.mlp = nn.Sequential(*layers)

    def encode(self, side: int, ids: Any) -> Any:
        return (self.enc0 if side == 0 else self.enc1)(ids)

    def forward(self, in0: Any, in1: Any) -> Any:
        """Logits [B, num_classes] (softmax) or predictions [B] (mean_squared_error)."""
        a, b = self.enc0(in0), self.enc1(in1)
        parts = []
        for c in self.cfg["comparators"]:
            if c == "hadamard":
                parts.append(a * b)
            elif c == "abs_diff":
                parts.append((a - b).abs())
            else:
                parts += [a, b]
        out = self.mlp(torch.cat(parts, dim=1))
        return out if self.cfg["output_layer"] == "softmax" else out.squeeze(1)


def pad_batch(seqs: list[list[int]], pad: int, device: Any = None) -> Any:
    """Token id lists -> a [B, T] long tensor padded with ``pad`` (T >= 1)."""
    width = max(1, max((len(s) for s in seqs), default=1))
    out = torch.full((len(seqs), width), pad, dtype=torch.long)
    for r, s in enumerate(seqs):
        if s:
            out[r, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out if device is None else out.to(device)
