"""DeepTau v2 network: width formulas, the parameter count of the default SetupNN, the loss against its
formula, sparse cells = dense grids, the three saved forms agree (the frozen graph through plain TF graph APIs),
and the JAX backend builds the same network and trains."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tauml.core.errors import TaumlError
from tauml.features.config import INPUT_NAMES, input_shapes, load_training_cfg
from tauml.model.blocks import conv2d_filters
from tauml.model.widths import layer_sizes, layer_width

REPO = Path(__file__).resolve().parents[1]
TRAINING_CFG = REPO / "config" / "training" / "training_v1.yaml"


def tiny_cfg():
    """The default configuration with 3x3 grids and one narrow layer per sub-network (fast to build and trace)."""
    cfg = load_training_cfg(TRAINING_CFG)
    cfg["Setup"].update(n_inner_cells=3, n_outer_cells=3)
    nn = cfg["SetupNN"]
    for net, width in (("tau_net", 16), ("comp_net", 8), ("comp_merge_net", 8), ("dense_net", 16)):
        nn[net].update(first_layer_width=width, last_layer_width=width, min_n_layers=None)
    return cfg


def random_inputs(shapes, n, seed=0, empty=0.7):
    """Dense inputs with most cells empty (all-zero), as the loader's grids."""
    rng = np.random.default_rng(seed)
    x = {}
    for name, shape in shapes.items():
        values = rng.normal(size=(n, *shape)).astype(np.float32)
        if len(shape) == 3:
            values *= rng.random((n, shape[0], shape[1], 1)) > empty
        x[name] = values
    return x


def test_width_formulas_and_sequences():
    assert layer_width("2*n*(1+drop)", 43, 0.2) == 104  # ceil(103.2)
    assert layer_width("n*(1+drop)", 43, 0.2) == 52
    assert layer_width("n", 227, 0.2) == 227 and layer_width(64, 227, 0.2) == 64
    assert layer_width(" (n + 1) / 2 - -1 ", 9, 0) == 6
    assert layer_sizes(104, 52, 1.4) == [104, 74, 52]
    assert layer_sizes(207, 104, 1.6) == [207, 129, 104]  # egamma, 86 inputs
    assert layer_sizes(227, 64, 1.6) == [227, 141, 88, 64]
    assert layer_sizes(200, 200, 1, min_n_layers=4) == [200] * 4
    assert layer_sizes(500, 10, 2, max_n_layers=3) == [500, 250, 10]
    assert conv2d_filters(64, 11, 3, None) == 64 and conv2d_filters(64, 11, 3, 2) == 48  # ceil((11/9)^2 * 32)
    for bad in ("2*n*(", "__import__('os').system('true')", "n**2", "x + 1", "n.real", "[n]", "n / 0", "'n'", "-n"):
        with pytest.raises(TaumlError, match="layer width"):
            layer_width(bad, 43, 0.2)
    with pytest.raises(TaumlError, match="reduction_rate"):
        layer_sizes(100, 10, 1.0)


def test_default_network_has_the_original_size_and_names():
    from tauml.model import build_model

    cfg = load_training_cfg(TRAINING_CFG)
    model = build_model(cfg)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    assert (trainable, frozen) == (1_151_378, 9_908)
    assert [t.name for t in model.inputs] == list(INPUT_NAMES)
    names = {layer.name for layer in model.layers}
    assert {"tau_dense_3", "inner_egamma_conv_3", "inner_all_conv_4", "inner_all_3x3_conv_5", "outer_all_3x3_conv_10",
            "outer_all_3x3_activation_10", "final_dense_4", "final_dropout_4", "final_dense_last",
            "main_output"} <= names
    assert "inner_all_3x3_conv_6" not in names and "final_dense_5" not in names
    assert model.get_layer("inner_egamma_conv_1").filters == 207
    assert model.get_layer("main_output").output.shape[-1] == 4
    # a disabled feature changes the input width and the layer widths that follow from it
    cfg["Features_disable"] = {**(cfg["Features_disable"] or {}), "TauFlat": ["tau_phi", "tau_mass"]}
    assert build_model(cfg).get_layer("tau_dense_1").units == layer_width("2*n*(1+drop)", 42, 0.2)


def reference_loss(y, p, sfs=(1, 2.5, 5, 1.5)):
    """tau_crossentropy_v2 written out from its definition (numpy, float64)."""
    s = np.asarray(sfs, float) * 4 / sum(sfs)
    p = np.clip(p.astype(float), 1e-7, 1 - 1e-7)
    e, mu, tau, jet = range(4)
    d = (np.tanh(70 * (p[:, tau] - 0.1)) + 1) / 2
    h_tau = -y[:, tau] * np.log(p[:, tau])
    f_cmb = 1.17153 * -(1 - y[:, tau]) * p[:, tau] ** 0.5 * np.log(1 - p[:, tau])
    focal = {k: 1.63636 * d * -y[:, k] * (1 - p[:, k]) ** 2 * np.log(p[:, k]) for k in (e, mu, jet)}
    return s[tau] * h_tau + (s[e] + s[mu] + s[jet]) * f_cmb + 5 * sum(s[k] * focal[k] for k in (e, mu, jet))


def test_loss_and_metrics_follow_their_definitions():
    import keras

    from tauml.model import losses

    assert losses.class_factors([1, 2.5, 5, 1.5]) == pytest.approx((0.4, 1.0, 2.0, 0.6))
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (500, 4))
    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    p[:5] = [1, 0, 0, 0]  # saturated outputs stay finite through the clipping
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 500)]
    got = keras.ops.convert_to_numpy(losses.tau_crossentropy_v2(y, p))
    assert np.isfinite(got).all()
    assert got == pytest.approx(reference_loss(y, p), rel=2e-4, abs=1e-5)
    w = rng.uniform(0.1, 2, 500).astype(np.float32)
    loss = losses.TauCrossentropyV2([1, 2.5, 5, 1.5])
    assert float(loss(y, p, sample_weight=w)) == pytest.approx(np.mean(w * reference_loss(y, p)), rel=2e-4)
    ratio = np.clip(p[:, 2] / (p[:, 2] + p[:, 0] + 1e-7), 1e-7, 1 - 1e-7)
    le = -y[:, 2] * np.log(ratio) - y[:, 0] * np.log(1 - ratio)
    assert keras.ops.convert_to_numpy(losses.Le(y, p)) == pytest.approx(le, rel=1e-4, abs=1e-5)
    metric = losses.metrics(prefix="weighted_")[losses.METRIC_NAMES.index("Le")]
    metric.update_state(y, p, sample_weight=w)
    assert float(metric.result()) == pytest.approx(np.sum(w * le) / np.sum(w), rel=1e-4)
    with pytest.raises(TaumlError, match="TauLossesSFs"):
        losses.class_factors([1, 2, 3])


def sparse_from_dense(x, pad=256):
    """The loader's sparse format of dense grids: filled cells only, padded with zero rows at (0, 0, 0)."""
    out = {"input_tau": x["input_tau"]}
    for grid in ("inner", "outer"):
        names = [n for n in x if n.startswith(f"input_{grid}_")]
        filled = np.argwhere(np.any([np.any(x[n] != 0, axis=-1) for n in names], axis=0))
        n_rows = -(-len(filled) // pad) * pad
        index = np.zeros((n_rows, 3), np.int32)
        index[: len(filled)] = filled
        out[f"{grid}_cells_index"] = index
        for n in names:
            rows = np.zeros((n_rows, x[n].shape[-1]), np.float32)
            rows[: len(filled)] = x[n][tuple(filled.T)]
            out[n] = rows
    return out


@pytest.fixture(scope="module")
def tiny_model():
    from tauml.model import build_model, compile_model

    cfg = tiny_cfg()
    model = build_model(cfg, sparse=True)
    compile_model(model, cfg["SetupNN"])
    return cfg, model


def test_sparse_cells_give_the_dense_prediction(tiny_model):
    from tauml.model import dense_part

    cfg, model = tiny_model
    dense = dense_part(model)
    assert dense.count_params() == model.count_params()
    x = random_inputs(input_shapes(cfg), 40, seed=1)
    sparse = sparse_from_dense(x)
    assert len(sparse["outer_cells_index"]) % 256 == 0
    np.testing.assert_allclose(model.predict_on_batch(sparse), dense.predict_on_batch(x), atol=1e-6)


@pytest.mark.slow
def test_model_forms_agree_and_frozen_graph_loads_with_tf_graph_apis(tiny_model, tmp_path):
    import tensorflow as tf

    from tauml.model import load_predictor, save_model_forms

    cfg, model = tiny_model
    x = random_inputs(input_shapes(cfg), 25, seed=2)
    model.train_on_batch(sparse_from_dense(random_inputs(input_shapes(cfg), 64, seed=4)),
                         np.eye(4, dtype=np.float32)[np.arange(64) % 4])  # moving BN statistics matter
    out = save_model_forms(model, tmp_path / "forms")
    assert sorted(p.name for p in out.iterdir()) == ["frozen.pb", "model.keras", "saved_model"]
    keras_reference = load_predictor(out)(x)
    assert keras_reference.shape == (25, 4) and np.allclose(keras_reference.sum(1), 1, atol=1e-5)
    for form in ("model.keras", "saved_model", "frozen.pb"):
        np.testing.assert_allclose(load_predictor(out / form)(x), keras_reference, atol=1e-5)
        np.testing.assert_allclose(load_predictor(out / form)(sparse_from_dense(x)), keras_reference, atol=1e-5)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((out / "frozen.pb").read_bytes())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            got = session.run("main_output/Softmax:0", {f"{name}:0": x[name] for name in INPUT_NAMES})
    np.testing.assert_allclose(got, keras_reference, atol=1e-5)
    with pytest.raises(TaumlError, match="not a model"):
        load_predictor(tmp_path)


JAX_SCRIPT = """
import numpy as np, keras
from tauml.features.config import load_training_cfg, input_shapes
from tauml.model import build_model, compile_model
from tests.test_model import sparse_from_dense, tiny_cfg
cfg = load_training_cfg({cfg!r})
model = build_model(cfg)
print("params", sum(int(np.prod(v.shape)) for v in model.trainable_weights),
      sum(int(np.prod(v.shape)) for v in model.non_trainable_weights))
cfg = tiny_cfg()  # the training step on a small network: XLA compiles the full one for minutes on 2 cores
model = build_model(cfg, sparse=True)
compile_model(model, cfg["SetupNN"])
shapes = input_shapes(cfg)
rng = np.random.default_rng(0)
x = sparse_from_dense({{k: rng.normal(size=(8, *s)).astype("float32") for k, s in shapes.items()}})
y = np.eye(4, dtype="float32")[np.arange(8) % 4]
first = model.train_on_batch(x, y, return_dict=True)["loss"]
print("step", keras.backend.backend(), int(model.optimizer.iterations), np.isfinite(first))
"""


def test_jax_backend_builds_the_same_network_and_trains():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT.format(cfg=str(TRAINING_CFG))], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "params 1151378 9908" in proc.stdout
    assert "step jax 1 True" in proc.stdout
