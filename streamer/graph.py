"""What a model's graph ends in: the only module of the daemon that imports ``onnx``.

ONNX Runtime describes a session's inputs, outputs and metadata but not its nodes, and whether a
classifier's scores are already probabilities, or a detector already ran NMS, is written only in
the nodes. Guessing from output names or from values on a test input would be wrong for some
models, so the graph is read (weights left on disk) once at load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import onnx

logger = logging.getLogger(__name__)

# Nodes that change a tensor's shape or type but not its values: looked through to the node that
# decides them (e.g. Softmax -> Flatten -> output).
PASS_THROUGH = frozenset(
    {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Cast", "Dropout", "Gather", "Slice"}
)


@dataclass(frozen=True)
class GraphFacts:
    """Per output, the op type of the node that decides its values; and whether the graph runs NMS."""

    final_ops: dict[str, str] = field(default_factory=dict)
    nms: bool = False

    def final_op(self, output: str) -> str:
        """The deciding op of ``output`` ("" when unknown, e.g. an output that is a graph input)."""
        return self.final_ops.get(output, "")


def read_graph(path: Path) -> GraphFacts:
    """Read the facts of the graph at ``path``; an unreadable graph gives empty facts (runtime reports it)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises protobuf's untyped errors; ONNX Runtime's load names the problem
        logger.warning("%s: cannot read the graph's nodes (%s): activation auto takes outputs for logits", path, exc)
        return GraphFacts()
    producers = {out: node for node in model.graph.node for out in node.output}
    final_ops: dict[str, str] = {}
    for output in model.graph.output:
        name = output.name
        node = producers.get(name)
        for _ in range(len(producers)):  # bounded walk back through shape-only nodes
            if node is None or node.op_type not in PASS_THROUGH or not node.input:
                break
            node = producers.get(node.input[0])
        final_ops[name] = node.op_type if node is not None else ""
    nms = any(node.op_type == "NonMaxSuppression" for node in _all_nodes(model.graph))
    return GraphFacts(final_ops, nms)


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Every node, subgraphs (If, Loop, Scan bodies) included."""
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(attr.g))
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    nodes.extend(_all_nodes(g))
    return nodes
