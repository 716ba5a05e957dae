"""How the real sample files next to this script were written (run once; the outputs are committed).

    python -m venv /tmp/gen && /tmp/gen/bin/pip install h5py onnx gguf numpy pillow-heif
    /tmp/gen/bin/python make_samples.py real        # h5py, onnx, gguf, pillow-heif writers
    /work/venv/bin/python make_samples.py torch     # torch.save(..., legacy format)

nodejs-tty.md is verbatim: the first 1500 bytes of /usr/share/doc/nodejs/api/tty.md from the
Debian package nodejs 20.20.2 (Node.js docs, MIT; https://github.com/nodejs/node/blob/v20.x/doc/api/tty.md),
a Markdown file libmagic calls application/javascript.

Each format is written by its own library; the "cut-" files are the same bytes cut short
(what an interrupted download leaves).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cut(name: str, keep: float) -> None:
    data = (HERE / name).read_bytes()
    (HERE / f"cut-{name}").write_bytes(data[: int(len(data) * keep)])


def real() -> None:
    import gguf
    import h5py
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    with h5py.File(HERE / "model.h5", "w") as f:
        f.create_dataset("w", data=np.arange(2000, dtype=np.float32))
    cut("model.h5", 0.6)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0] * 1)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, HERE / "noproducer.onnx")  # no producer_name: the case once called binary
    model.producer_name = "pytorch"
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [256], [0.5] * 256)
    model.graph.initializer.append(w2)
    onnx.save(model, HERE / "model.onnx")
    cut("model.onnx", 0.5)

    writer = gguf.GGUFWriter(str(HERE / "llm.gguf"), "llama")
    writer.add_name("tiny")
    writer.add_tensor("tok_embd", np.ones((8, 32), dtype=np.float32))
    writer.add_tensor("out", np.zeros((4, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    cut("llm.gguf", 0.8)

    import pillow_heif
    from PIL import Image

    img = Image.new("RGB", (16, 16), (200, 30, 30))
    heif = pillow_heif.from_pillow(img)
    heif.save(HERE / "photo.heic", quality=50)
    cut("photo.heic", 0.7)
    try:
        heif.save(HERE / "photo.avif", quality=50, format="AVIF")
    except Exception as exc:  # an encoder may be missing from the wheel
        print("no AVIF encoder:", exc)


def torch_legacy() -> None:
    import torch

    torch.save(
        {"w": torch.arange(300, dtype=torch.float32), "b": torch.zeros(7, dtype=torch.int64)},
        HERE / "legacy.pt",
        _use_new_zipfile_serialization=False,
    )
    cut("legacy.pt", 0.7)


if __name__ == "__main__":
    {"real": real, "torch": torch_legacy}[sys.argv[1]]()
