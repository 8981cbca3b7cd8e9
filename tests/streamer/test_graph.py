"""Reading a graph's final nodes: through shape-only nodes, into subgraphs, and past unreadable files."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from streamer.graph import GraphFacts, read_graph
from tests import tinymodels


def test_final_op_looks_through_shape_only_nodes(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx", ending=("Softmax", "Flatten", "Identity"), output_name="probs")
    facts = read_graph(p)
    assert facts.final_op("probs") == "Softmax"
    assert facts.final_op("embedding") == "ReduceMean"
    assert facts.final_op("nope") == "" and not facts.nms


def test_logits_and_sigmoid(tmp_path: Path) -> None:
    assert read_graph(tinymodels.classifier(tmp_path / "a.onnx")).final_op("logits") == "Add"
    p = tinymodels.classifier(tmp_path / "b.onnx", ending=("Sigmoid",), output_name="s")
    assert read_graph(p).final_op("s") == "Sigmoid"


def test_nms_found_at_top_level_and_in_subgraphs(tmp_path: Path) -> None:
    assert read_graph(tinymodels.box_finder(tmp_path / "n.onnx", "nms", nms_node=True)).nms
    assert not read_graph(tinymodels.box_finder(tmp_path / "y.onnx", "yolov8")).nms
    # An If whose branch runs NonMaxSuppression (as some exported post-processing heads do).
    branch_nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"])]
    out = [helper.make_tensor_value_info("sel", TensorProto.INT64, ["K", 3])]
    then = helper.make_graph(branch_nodes, "then", [], out)
    other = helper.make_graph([helper.make_node("NonZero", ["cond_f"], ["sel"])], "else", [], out)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["cond"], ["cond_f"], to=TensorProto.FLOAT),
            helper.make_node("If", ["cond"], ["result"], then_branch=then, else_branch=other),
        ],
        "g",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 1]),
        ],
        [helper.make_tensor_value_info("result", TensorProto.INT64, ["K", 3])],
    )
    path = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    facts = read_graph(path)
    assert facts.nms and facts.final_op("result") == "If"


def test_unreadable_file_gives_no_facts(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 50)
    assert read_graph(junk) == GraphFacts()
    assert read_graph(tmp_path / "missing.onnx") == GraphFacts()
