"""Targets and loss of ShapeDetector: centre-sampled positives, IoU-quality class targets, GIoU boxes.

An anchor point is a positive for an object when it lies inside the object's box and within
``CENTER_RADIUS`` strides of its centre (FCOS centre sampling); the nearest anchor to a small
object's centre always is. An anchor claimed by several objects goes to the smallest. The class
target of a positive is the IoU of its predicted box with the object (quality focal loss, as in GFL),
so the score ranks boxes by how well they fit, which is what mAP@0.5:0.95 rewards. Anchors inside an
"ignore" region (a mostly hidden object) that no object claims carry no class loss at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from export.detector import STRIDE

CENTER_RADIUS = 2.5
BOX_WEIGHT = 2.0


@dataclass(frozen=True)
class Targets:
    """A batch of padded ground truth in input pixels: ``boxes [B, M, 4]``, ``classes [B, M]`` (-1 pad)."""

    boxes: torch.Tensor
    classes: torch.Tensor
    ignore: torch.Tensor


def box_iou_pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and GIoU of matching rows of xyxy boxes ``a [K, 4]`` and ``b [K, 4]``."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0).prod(dim=1) + 1e-7
    return iou, iou - (hull - union) / hull


def assign(points: torch.Tensor, t: Targets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor: positive mask ``[B, A]``, assigned object index ``[B, A]``, ignore mask ``[B, A]``."""
    px, py = points[:, 0].view(1, -1, 1), points[:, 1].view(1, -1, 1)  # [1, A, 1]
    x1, y1, x2, y2 = (t.boxes[..., k].unsqueeze(1) for k in range(4))  # [B, 1, M]
    real = (t.classes >= 0).unsqueeze(1)
    valid = real & ~t.ignore.unsqueeze(1)
    inside = (px > x1) & (px < x2) & (py > y1) & (py < y2)
    r = CENTER_RADIUS * STRIDE
    near = ((px - (x1 + x2) / 2).abs() < r) & ((py - (y1 + y2) / 2).abs() < r)
    cand = inside & near & valid  # [B, A, M]
    centres = (t.boxes[..., :2] + t.boxes[..., 2:]) / 2  # [B, M, 2]
    nearest = torch.cdist(centres, points.unsqueeze(0).expand(len(centres), -1, -1)).argmin(dim=2)  # [B, M]
    b_idx, m_idx = torch.nonzero(valid[:, 0, :], as_tuple=True)
    cand[b_idx, nearest[b_idx, m_idx], m_idx] = True
    area = ((x2 - x1) * (y2 - y1)).expand_as(cand)
    cost = torch.where(cand, area, torch.full_like(area, float("inf")))
    gt_index = cost.argmin(dim=2)
    positive = cand.any(dim=2)
    ignored = (inside & real & t.ignore.unsqueeze(1)).any(dim=2) & ~positive
    return positive, gt_index, ignored


def detection_loss(
    logits: torch.Tensor, xyxy: torch.Tensor, points: torch.Tensor, t: Targets
) -> tuple[torch.Tensor, dict[str, float]]:
    """Quality focal loss on ``logits [B, A, C]`` plus GIoU loss on positive boxes ``xyxy [B, A, 4]``."""
    positive, gt_index, ignored = assign(points, t)
    num_pos = max(1.0, float(positive.sum()))
    gt_boxes = torch.gather(t.boxes, 1, gt_index.unsqueeze(-1).expand(-1, -1, 4))[positive]
    gt_cls = torch.gather(t.classes, 1, gt_index)[positive]
    pred = xyxy[positive]
    iou, giou = box_iou_pairs(pred, gt_boxes)
    quality = torch.zeros_like(logits)
    quality[positive] = F.one_hot(gt_cls, logits.shape[-1]).to(logits.dtype) * iou.detach().clamp(min=0.05).unsqueeze(1)
    bce = F.binary_cross_entropy_with_logits(logits, quality, reduction="none")
    focal = (torch.sigmoid(logits) - quality).abs().pow(2)
    cls_loss = (bce * focal * (~ignored).unsqueeze(-1)).sum() / num_pos
    box_loss = (1 - giou).sum() / num_pos if pred.numel() else logits.sum() * 0
    loss = cls_loss + BOX_WEIGHT * box_loss
    parts = {"cls": cls_loss.item(), "box": box_loss.item(), "iou": iou.mean().item() if iou.numel() else 0.0}
    return loss, parts
