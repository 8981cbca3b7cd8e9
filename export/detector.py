"""ShapeDetector: a small anchor-free, YOLO-style detector whose output the daemon decodes as is.

One stride-8 prediction level fed by a stride-16 context path (a two-level FPN folded into one map).
Every cell of the map is an anchor point; it predicts per-class scores and the distances from its
centre to the four sides of the box (l, t, r, b). The exported graph decodes them into the YOLOv8
layout ``[N, 4 + C, A]``: rows ``cx, cy, w, h`` in input pixels, then the C class scores (sigmoid),
anchors in row-major order of the map. :func:`streamer.postprocess.decode_yolo` reads that directly.

Plain conv-BN-ReLU blocks, no residual adds: as in FrameCNN, every conv then becomes a QLinearConv
in the int8 model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 8


@dataclass(frozen=True)
class DetectorConfig:
    """Hyper-parameters of ShapeDetector; ``height`` and ``width`` must be multiples of 16."""

    num_classes: int
    height: int = 144
    width: int = 192
    width_mult: float = 1.0

    @property
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the anchor map."""
        return self.height // STRIDE, self.width // STRIDE

    @property
    def anchors(self) -> int:
        """A, the number of anchor points."""
        gh, gw = self.grid
        return gh * gw


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _ch(base: int, mult: float) -> int:
    return max(8, round(base * mult / 8) * 8)


def anchor_points(cfg: DetectorConfig) -> torch.Tensor:
    """``[A, 2]`` anchor centres (x, y) in input pixels, row-major like the output."""
    gh, gw = cfg.grid
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * STRIDE
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * STRIDE
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


class ShapeDetector(nn.Module):
    """Normalised RGB ``[N, 3, H, W]`` -> ``[N, 4 + C, A]`` (see the module docstring)."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        if cfg.height % 16 or cfg.width % 16:
            raise ValueError("detector input height and width must be multiples of 16")
        self.cfg = cfg
        m = cfg.width_mult
        c1, c2, c3, c4, ch = _ch(16, m), _ch(32, m), _ch(64, m), _ch(96, m), _ch(64, m)
        self.p3 = nn.Sequential(
            _conv(3, c1, 3, 2), _conv(c1, c2, 3, 2), _conv(c2, c2), _conv(c2, c3, 3, 2), _conv(c3, c3)
        )
        self.p4 = nn.Sequential(_conv(c3, c4, 3, 2), _conv(c4, c4), _conv(c4, c4))
        self.fuse = nn.Sequential(_conv(c3 + c4, ch, 1), _conv(ch, ch))
        self.cls_branch = nn.Sequential(_conv(ch, ch), nn.Conv2d(ch, cfg.num_classes, 1))
        self.box_branch = nn.Sequential(_conv(ch, ch), nn.Conv2d(ch, 4, 1))
        self.register_buffer("points", anchor_points(cfg))
        # Start with rare positives (focal-loss prior) so the first steps are not all false alarms.
        cls_out = self.cls_branch[-1]
        if isinstance(cls_out, nn.Conv2d) and cls_out.bias is not None:
            nn.init.constant_(cls_out.bias, -4.0)

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training outputs: class logits ``[N, A, C]`` and side distances ltrb ``[N, A, 4]`` (pixels)."""
        p3 = self.p3(x)
        p4 = self.p4(p3)
        up = F.interpolate(p4, scale_factor=2.0, mode="nearest")
        feat = self.fuse(torch.cat([p3, up], dim=1))
        logits = self.cls_branch(feat).flatten(2).transpose(1, 2)
        ltrb = F.softplus(self.box_branch(feat)).flatten(2).transpose(1, 2) * STRIDE
        return logits, ltrb

    def boxes(self, ltrb: torch.Tensor) -> torch.Tensor:
        """Side distances ``[N, A, 4]`` -> xyxy boxes ``[N, A, 4]`` in input pixels."""
        points: torch.Tensor = self.points  # type: ignore[assignment]
        return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, ltrb = self.raw(x)
        xyxy = self.boxes(ltrb)
        cxcy = (xyxy[..., :2] + xyxy[..., 2:]) / 2
        wh = xyxy[..., 2:] - xyxy[..., :2]
        return torch.cat([cxcy, wh, torch.sigmoid(logits)], dim=-1).transpose(1, 2)
