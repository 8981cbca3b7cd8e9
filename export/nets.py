"""The two reference networks: a per-frame CNN and a one-step sequence GRU.

``FrameCNN`` is a small MobileNet-style network. Its embedding is the pooled class features plus
the soft-argmax position of the main object (trained with an auxiliary position loss), so that the
GRU downstream can see motion: a pooled vector alone throws away where the object is.

``SequenceGRU`` runs one step at a time with explicit state, which is how the daemon drives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# Scale of the position part of the embedding: object speeds are a few hundredths of the
# normalised [-1, 1] range per frame, which is small next to the unit-scale class features.
POSITION_SCALE = 4.0


@dataclass(frozen=True)
class FrameNetConfig:
    """Hyper-parameters of FrameCNN."""

    num_classes: int
    height: int = 72
    width: int = 96
    feature_dim: int = 30
    width_mult: float = 1.0

    @property
    def embedding_dim(self) -> int:
        """Size E of the embedding: class features plus an (x, y) position."""
        return self.feature_dim + 2


@dataclass(frozen=True)
class SequenceNetConfig:
    """Hyper-parameters of SequenceGRU."""

    num_classes: int
    feature_size: int
    hidden_size: int = 64
    num_layers: int = 1


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with BN and ReLU (MobileNet style)."""
    return nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin), _conv_bn(cin, cout, 1, 1))


def _ch(base: int, mult: float) -> int:
    return max(8, round(base * mult / 8) * 8)


class FrameCNN(nn.Module):
    """One RGB frame ``[N, 3, H, W]`` (normalised) -> ``(logits [N, K], embedding [N, E], position [N, 2])``.

    Early stages use dense 3x3 convolutions (as in fused-MBConv): at 32-64 channels they are cheaper
    on a CPU than depthwise ones. Later stages are depthwise-separable. There are no residual adds:
    ONNX Runtime's int8 CPU path leaves QDQ residual adds (and the convs feeding them) in fp32,
    which made the int8 model slower than fp32; without them every conv becomes a QLinearConv.
    The full-resolution dense conv after the stem is there for int8 as much as for accuracy: int8
    pays on dense convs (VNNI), hardly on depthwise ones, and without it the int8 model measured
    0.9-1.3x the fp32 speed at batch 1 instead of 1.4-1.7x.
    """

    def __init__(self, cfg: FrameNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        m = cfg.width_mult
        c1, c2, c3, c4 = _ch(24, m), _ch(48, m), _ch(96, m), _ch(192, m)
        self.early = nn.Sequential(
            _conv_bn(3, c1, 3, 2),
            _conv_bn(c1, c1, 3, 1),
            _conv_bn(c1, c2, 3, 2),
            _conv_bn(c2, c2, 3, 1),
            _separable(c2, c3, 2),
            _separable(c3, c3, 1),
        )
        self.late = nn.Sequential(_separable(c3, c4, 2), _separable(c4, c4, 1))
        # Stride-8 map (9 x 12 for a 72 x 96 input): a soft-argmax over it gives the position.
        self.heat = nn.Conv2d(c3, 1, 1)
        self.project = nn.Linear(c3 + c4, cfg.feature_dim)
        self.classify = nn.Linear(cfg.feature_dim, cfg.num_classes)
        gh, gw = (cfg.height + 7) // 8, (cfg.width + 7) // 8
        ys = (torch.arange(gh, dtype=torch.float32) + 0.5) / gh * 2 - 1
        xs = (torch.arange(gw, dtype=torch.float32) + 0.5) / gw * 2 - 1
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        self.register_buffer("grid", torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mid = self.early(x)
        heat = torch.softmax(self.heat(mid).flatten(1), dim=1)  # [N, h*w]
        grid: torch.Tensor = self.grid  # type: ignore[assignment]
        position = heat @ grid
        # The object is a few cells of the map; pooling where the heat map looks keeps its features
        # from being averaged away by a textured background. The global pool sees the whole scene.
        focused = torch.bmm(mid.flatten(2), heat.unsqueeze(2)).squeeze(2)  # [N, C]
        pooled = torch.cat([focused, self.late(mid).mean(dim=(2, 3))], dim=1)
        features = torch.relu(self.project(pooled))
        logits = self.classify(features)
        embedding = torch.cat([features, position * POSITION_SCALE], dim=1)
        return logits, embedding, position


class SequenceGRU(nn.Module):
    """One step of a GRU over frame embeddings: ``(features [N, E], h [L, N, H]) -> (logits, h')``.

    The input is standardised with statistics frozen from the training embeddings, so the daemon
    feeds the CNN's embedding unchanged.
    """

    def __init__(self, cfg: SequenceNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.feature_size))
        self.register_buffer("feat_std", torch.ones(cfg.feature_size))
        self.gru = nn.GRU(cfg.feature_size, cfg.hidden_size, cfg.num_layers)
        self.classify = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def set_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Freeze the input standardisation (computed from the training embeddings)."""
        self.feat_mean = mean.detach().clone()
        self.feat_std = std.detach().clone()

    def _normalise(self, features: torch.Tensor) -> torch.Tensor:
        mean: torch.Tensor = self.feat_mean
        std: torch.Tensor = self.feat_std
        return (features - mean) / std

    def forward(self, features: torch.Tensor, h_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h_out = self.gru(self._normalise(features).unsqueeze(0), h_in)
        return self.classify(out[0]), h_out

    def sequence(self, features: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Logits at every step of ``features [T, N, E]`` (training path, same maths as the step)."""
        if h0 is None:
            h0 = self.initial_state(features.shape[1])
        out, _ = self.gru(self._normalise(features), h0)
        logits: torch.Tensor = self.classify(out)
        return logits

    def initial_state(self, batch: int) -> torch.Tensor:
        """The zero state the daemon starts (and resets) a stream with."""
        return torch.zeros(self.cfg.num_layers, batch, self.cfg.hidden_size)
