"""The trained model in three forms and one way to predict with any of them.

``model.keras`` (Keras 3, any backend, with optimizer state), ``saved_model/`` (TensorFlow SavedModel,
``serving_default`` taking the named inputs) and ``frozen.pb`` (a GraphDef with the weights as constants, the
inputs as placeholders ``input_tau``, ``input_inner_egamma``, ... and the output ``main_output/Softmax``, the
names CMSSW's DeepTau producer looks up). The two TensorFlow forms hold the dense-input network; a model
trained on sparse cells is exported as its dense part. They are written with the TensorFlow backend; under
another backend ``save_model_forms`` exports them from ``model.keras`` in a TensorFlow-backend subprocess.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import keras
import numpy as np

from ..core.errors import TaumlError
from .network import dense_part
from .sparse import DensifyCells, cells_index_name

KERAS_FILE, SAVED_MODEL_DIR, FROZEN_FILE = "model.keras", "saved_model", "frozen.pb"
OUTPUT_NODE = "main_output/Softmax"

Predictor = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _input_specs(model: keras.Model):
    import tensorflow as tf

    return [tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=t.name) for t in model.inputs]


def frozen_graph_def(model: keras.Model):
    """The dense network as a GraphDef with constant weights and the original tensor names."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    dense = dense_part(model)
    function = tf.function(lambda *xs: dense(list(xs), training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(*_input_specs(dense)))
    graph_def = frozen.graph.as_graph_def()
    (softmax,) = [node for node in graph_def.node if node.op == "Softmax"]
    old = softmax.name
    softmax.name = OUTPUT_NODE
    for node in graph_def.node:
        node.input[:] = [OUTPUT_NODE + name[len(old):] if name.split(":")[0] in (old, "^" + old) or
                         name.startswith(old + ":") else name for name in node.input]
    return graph_def


def _write_tf_forms(model: keras.Model, out: Path) -> None:
    dense = dense_part(model)
    dense.export(str(out / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
    (out / FROZEN_FILE).write_bytes(frozen_graph_def(dense).SerializeToString())


def save_model_forms(model: keras.Model, out_dir: str | os.PathLike) -> Path:
    """Write ``model.keras``, ``saved_model/`` and ``frozen.pb`` into ``out_dir`` (replaced as a whole)."""
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        model.save(tmp / KERAS_FILE)
        if keras.backend.backend() == "tensorflow":
            _write_tf_forms(model, tmp)
        else:
            env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
            proc = subprocess.run([sys.executable, "-m", __name__, str(tmp / KERAS_FILE), str(tmp)], env=env,
                                  capture_output=True, text=True)
            if proc.returncode:
                raise TaumlError(f"{out}: exporting the TensorFlow forms failed: {proc.stderr.strip()[-2000:]}")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def densify(x: Mapping[str, np.ndarray], shapes: Mapping[str, tuple]) -> dict[str, np.ndarray]:
    """Sparse-cell inputs (``<grid>_cells_index`` + ``input_<grid>_<block>`` rows) as the dense grids of
    ``shapes`` (the dense model's inputs); dense inputs pass unchanged."""
    out = {k: v for k, v in x.items() if not k.endswith("_cells_index")}
    for location in [k.removesuffix("_cells_index") for k in x if k.endswith("_cells_index")]:
        names = [name for name in shapes if name.startswith(f"input_{location}_")]
        grids = DensifyCells(shapes[names[0]][0])([x["input_tau"], x[cells_index_name(location)],
                                                   *[x[name] for name in names]])
        out.update({name: keras.ops.convert_to_numpy(grid) for name, grid in zip(names, grids)})
    return out


def _keras_predictor(path: Path) -> Predictor:
    model = dense_part(keras.saving.load_model(path, compile=False))
    shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}

    def predict(x):
        x = densify(x, shapes)
        return keras.ops.convert_to_numpy(model([np.asarray(x[name], np.float32) for name in shapes],
                                                training=False))

    return predict


def _saved_model_predictor(path: Path) -> Predictor:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    shapes = {name: tuple(spec.shape[1:]) for name, spec in serve.structured_input_signature[1].items()}

    def predict(x):
        x = densify(x, shapes)
        (out,) = serve(**{name: tf.constant(x[name], tf.float32) for name in shapes}).values()
        return out.numpy()

    return predict


def _frozen_predictor(path: Path) -> Predictor:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    placeholders = [node for node in graph_def.node if node.op == "Placeholder"]
    shapes = {node.name: tuple(d.size for d in node.attr["shape"].shape.dim[1:]) for node in placeholders}
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    function = wrapped.prune([wrapped.graph.get_tensor_by_name(f"{n}:0") for n in shapes],
                             wrapped.graph.get_tensor_by_name(f"{OUTPUT_NODE}:0"))

    def predict(x):
        x = densify(x, shapes)
        return function(*[tf.constant(x[name], tf.float32) for name in shapes]).numpy()

    return predict


def load_predictor(path: str | os.PathLike) -> Predictor:
    """``x -> (B, 4)`` probabilities from ``model.keras``, a ``saved_model/`` directory, ``frozen.pb``, or a
    directory written by :func:`save_model_forms` (its ``model.keras``). ``x`` maps input names to arrays,
    dense or as sparse cells."""
    path = Path(path)
    try:
        if path.is_dir() and (path / "saved_model.pb").is_file():
            return _saved_model_predictor(path)
        if path.is_dir() and (path / KERAS_FILE).is_file():
            return _keras_predictor(path / KERAS_FILE)
        if path.is_file() and path.suffix == ".keras":
            return _keras_predictor(path)
        if path.is_file() and path.suffix == ".pb":
            return _frozen_predictor(path)
    except (OSError, ValueError) as err:
        raise TaumlError(f"{path}: cannot load the model: {err}") from None
    raise TaumlError(f"{path}: not a model (expected model.keras, a SavedModel directory or a frozen .pb)")


if __name__ == "__main__":  # python -m tauml.model.forms MODEL.keras OUT_DIR: the TensorFlow forms only
    _write_tf_forms(keras.saving.load_model(sys.argv[1], compile=False), Path(sys.argv[2]))
