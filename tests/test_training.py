"""Training stage: Hydra composition (the README's override example), a short training on produced physics
through the real DataLoader that writes a complete mlflow run, resume from a checkpoint, the helpers
(set_mlflow_paths, print_results, run_tensorboard), the override-lines file, and bad inputs that stop before
any training."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tauml.cli.training import main as train_main
from tauml.cli.training import print_results_main, run_tensorboard_main, set_mlflow_paths_main
from tauml.core.errors import TaumlError
from tauml.features.config import INPUT_NAMES
from tauml.training.config import compose_config, read_override_lines

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config" / "training"
README_NETS = {
    "tau_net": '{ activation: "PReLU", dropout_rate: 0.2, reduction_rate: 1.4, first_layer_width: "2*n*(1+drop)", '
               'last_layer_width: "n*(1+drop)" }',
    "comp_net": '{ activation: "PReLU", dropout_rate: 0.2, reduction_rate: 1.6, first_layer_width: "2*n*(1+drop)", '
                'last_layer_width: "n*(1+drop)" }',
    "comp_merge_net": '{ activation: "PReLU", dropout_rate: 0.2, reduction_rate: 1.6, first_layer_width: "n", '
                      'last_layer_width: 64 }',
    "conv_2d_net": '{ activation: "PReLU", dropout_rate: 0.2, reduction_rate: null, window_size: 3 }',
    "dense_net": '{ activation: "PReLU", dropout_rate: 0.2, reduction_rate: 1, first_layer_width: 200, '
                 'last_layer_width: 200, min_n_layers: 4 }',
}
# a small, fast network on 3x3 grids, eager steps (no graph tracing): the stage's behaviour, not its speed
TINY = ["training_cfg.Setup.n_tau=50", "training_cfg.Setup.n_inner_cells=3", "training_cfg.Setup.n_outer_cells=3",
        "training_cfg.SetupNN.n_batches=5", "training_cfg.SetupNN.n_batches_val=2",
        "training_cfg.SetupNN.n_batches_log=2", "training_cfg.SetupNN.n_load_workers=1",
        "training_cfg.SetupNN.learning_rate=0.01", "run_eagerly=true",
        "training_cfg.SetupNN.tau_net={first_layer_width: 16, last_layer_width: 16}",
        "training_cfg.SetupNN.comp_net={first_layer_width: 8, last_layer_width: 8}",
        "training_cfg.SetupNN.comp_merge_net={first_layer_width: 8, last_layer_width: 8}",
        "training_cfg.SetupNN.dense_net={first_layer_width: 16, last_layer_width: 16, min_n_layers: 1}"]


def test_readme_override_example_and_hydra_grammar():
    overrides = ["experiment_name=run3_cnn_ho2", "scaling_cfg=s.json"]
    overrides += [f"training_cfg.SetupNN.{net}={value}" for net, value in README_NETS.items()]
    cfg = compose_config(overrides + ["training_cfg.SetupNN.tau_net={dropout_rate: 0.3}", "+my_note=hello",
                                      "~log_suffix"], CONFIG_DIR)
    nn = cfg["training_cfg"]["SetupNN"]
    assert nn["tau_net"] == {"activation": "PReLU", "dropout_rate": 0.3, "reduction_rate": 1.4,
                             "first_layer_width": "2*n*(1+drop)", "last_layer_width": "n*(1+drop)"}
    assert nn["conv_2d_net"]["reduction_rate"] is None and nn["dense_net"]["min_n_layers"] == 4
    assert cfg["my_note"] == "hello" and "log_suffix" not in cfg
    assert cfg["experiment_name"] == "run3_cnn_ho2" and cfg["path_to_mlflow"] == "mlruns"
    assert cfg["training_cfg"]["Setup"]["n_tau"] == 250  # training_v1.yaml under training_cfg
    with pytest.raises(TaumlError, match="Could not override 'training_cfg.SetupNN.tau_nett.a'"):
        compose_config(overrides + ["training_cfg.SetupNN.tau_nett.a=1"], CONFIG_DIR)
    with pytest.raises(TaumlError, match="no value for experiment_name"):
        compose_config(["scaling_cfg=s.json"], CONFIG_DIR)
    with pytest.raises(TaumlError, match="mismatched input"):
        compose_config(overrides + ["a=b=c"], CONFIG_DIR)


def test_override_lines_file(tmp_path):
    assert list(read_override_lines(CONFIG_DIR / "runs_default.txt")) == ["deeptau"]
    scan = read_override_lines(CONFIG_DIR / "input_run3_cnn_ho1.txt")
    assert len(scan) == 4 and scan["cnn_ho1_drop03"][0] == "training_cfg.SetupNN.tau_net={dropout_rate: 0.3}"
    lines = tmp_path / "runs.txt"
    lines.write_text("# comment\nlr=1 'a={x: 1}'\n\nrun_name=b c=2\n")
    assert read_override_lines(lines) == {"run2": ["lr=1", "a={x: 1}"], "b": ["c=2"]}
    lines.write_text("run_name=b x=1\nrun_name=b x=2\n")
    with pytest.raises(TaumlError, match="repeats"):
        read_override_lines(lines)


@pytest.fixture(scope="module")
def inputs(produced_tuples, tmp_path_factory):
    """Produced physics (tau_h, jets, electrons) and its scaling JSON from feature_scaling."""
    from tauml.features.config import load_training_cfg
    from tauml.inputs.scaling import feature_scaling

    d = tmp_path_factory.mktemp("training_inputs")
    files = [d / f"{p}.root" for p in ("DYtautau", "QCD", "DYee")]
    for f in files:
        shutil.copy(produced_tuples[f.stem], f)
    cfg = load_training_cfg(CONFIG_DIR / "training_v1.yaml")
    scaling = feature_scaling(cfg, file_path=[str(f) for f in files], output_folder=d / "scaling")
    return {"dir": d, "files": files, "scaling": scaling}


def _args(inputs, store, *extra):
    files = ",".join(f"'{f}'" for f in inputs["files"])
    return ["--config-dir", str(CONFIG_DIR), "experiment_name=test", f"path_to_mlflow={store}",
            f"scaling_cfg={inputs['scaling']}", f"input_files=[{files}]", "training_cfg.SetupNN.validation_split=0.34",
            *TINY, *extra]


@pytest.fixture(scope="module")
def trained(inputs, tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    store = d / "mlruns"
    assert train_main(_args(inputs, store, "training_cfg.SetupNN.n_epochs=2", f"model_dir={d / 'model'}",
                            "run_name=first")) == 0
    info = json.loads((d / "model" / "mlflow_run.json").read_text())
    return {"dir": d, "store": store, "info": info}


def _client(store):
    import mlflow

    from tauml.training.tracking import file_store_uri

    return mlflow.MlflowClient(file_store_uri(store))


def _artifacts(client, run_id, path=None):
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


@pytest.mark.slow  # a real training: minutes on 2 shared cores
def test_short_training_writes_a_complete_mlflow_run(trained, inputs):
    from tauml.features.loader import DataLoader
    from tauml.model import load_predictor

    client = _client(trained["store"])
    run = client.get_run(trained["info"]["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert client.get_experiment(run.info.experiment_id).name == "test"
    params = run.data.params
    assert params["model_name"] == "DeepTau2018v0" and params["tau_net_first_layer_width"] == "16"
    assert [params[f"TauLossesSFs_{i}"] for i in range(4)] == ["1", "2.5", "5", "1.5"]
    assert int(params["n_train_params"]) > 1000
    loss = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    val_loss = client.get_metric_history(run.info.run_id, "val_loss")
    assert len(loss) == 2 and len(val_loss) == 2 and loss[1] < loss[0]
    for name in ("accuracy", "weighted_tau_crossentropy_v2", "val_weighted_Fjet", "Hcat_jetInv"):
        assert len(client.get_metric_history(run.info.run_id, name)) == 2
    artifacts = _artifacts(client, run.info.run_id)
    for expected in ("input_cfg/training_cfg.yaml", "input_cfg/train.yaml", "input_cfg/metric_names.json",
                     f"input_cfg/{inputs['scaling'].name}", "model_summary.txt", "metrics.log",
                     "model_checkpoints/DeepTau2018v0_step1_e1.keras", "model_checkpoints/DeepTau2018v0_step1_e2.keras",
                     "model/model.keras", "model/frozen.pb", "model/saved_model/saved_model.pb"):
        assert expected in artifacts
    assert any(a.startswith("tensorboard_logs/train/") for a in artifacts)
    assert any(a.startswith("tensorboard_logs/validation/") for a in artifacts)
    local = Path(run.info.artifact_uri.removeprefix("file://"))
    assert len((local / "metrics.log").read_text().splitlines()) == 3  # header + 2 epochs
    assert "tau_crossentropy_v2" in json.loads((local / "input_cfg" / "metric_names.json").read_text())
    assert yaml.safe_load((local / "input_cfg" / "training_cfg.yaml").read_text())["Setup"]["n_inner_cells"] == 3
    # the three forms in model_dir and in mlflow predict the same on loader batches
    cfg = yaml.safe_load((local / "input_cfg" / "training_cfg.yaml").read_text())
    x, _, _ = next(DataLoader(cfg, inputs["files"][:1], inputs["scaling"], n_batches=1).epoch(0))
    reference = load_predictor(trained["dir"] / "model" / "model.keras")(x)
    for form in ("saved_model", "frozen.pb"):
        np.testing.assert_allclose(load_predictor(trained["dir"] / "model" / form)(x), reference, atol=1e-5)
        np.testing.assert_allclose(load_predictor(local / "model" / form)(x), reference, atol=1e-5)
    # CMSSW's view: the frozen graph with plain TensorFlow graph APIs and the original tensor names
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((local / "model" / "frozen.pb").read_bytes())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            got = session.run("main_output/Softmax:0", {f"{name}:0": x[name] for name in INPUT_NAMES})
    np.testing.assert_allclose(got, reference, atol=1e-5)


@pytest.mark.slow  # a real training: minutes on 2 shared cores
def test_resume_continues_at_the_checkpoint_epoch_with_its_optimizer_state(trained, inputs, capsys):
    import keras

    checkpoint = Path(_client(trained["store"]).get_run(trained["info"]["run_id"]).info.artifact_uri
                      .removeprefix("file://")) / "model_checkpoints" / "DeepTau2018v0_step1_e1.keras"
    assert int(keras.saving.load_model(checkpoint).optimizer.iterations) == 5
    model_dir = trained["dir"] / "resumed"
    assert train_main(_args(inputs, trained["store"], "training_cfg.SetupNN.n_epochs=2", f"resume={checkpoint}",
                            f"model_dir={model_dir}", "run_name=resumed")) == 0
    assert "epochs 1 -> 2" in capsys.readouterr().out
    resumed = keras.saving.load_model(model_dir / "model.keras")
    assert int(resumed.optimizer.iterations) == 10  # 5 steps of epoch 1 + 5 after resuming
    run = _client(trained["store"]).get_run(json.loads((model_dir / "mlflow_run.json").read_text())["run_id"])
    assert [m.step for m in _client(trained["store"]).get_metric_history(run.info.run_id, "loss")] == [1]


@pytest.mark.slow  # a real training: minutes on 2 shared cores
def test_print_results_and_run_tensorboard(trained, capsys):
    assert print_results_main([str(trained["store"])]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if trained["info"]["run_id"] in l)
    assert "Name: first" in line and "Model: DeepTau2018v0" in line and "val_loss: " in line
    assert run_tensorboard_main([str(trained["store"]), "--print-only"]) == 0
    spec = capsys.readouterr().out.strip()
    label = f"first_{trained['info']['run_id'][:8]}"
    assert f"{label}_train:" in spec and f"{label}_val:" in spec


def test_set_mlflow_paths_rehomes_an_experiment(tmp_path):
    store, merged = tmp_path / "a" / "mlruns", tmp_path / "merged" / "mlruns"
    client = _client(store)
    ids = [client.create_experiment(name) for name in ("one", "two")]
    runs = {}
    for exp in ids:
        run = client.create_run(exp, run_name=f"run_{exp}")
        client.log_param(run.info.run_id, "model_name", "DeepTau2018v0")
        client.log_metric(run.info.run_id, "loss", 0.5)
        client.set_terminated(run.info.run_id)
        runs[exp] = run.info.run_id
    assert set_mlflow_paths_main(["-p", str(store), "-id", ids[0], "-np", str(merged), "-nid", "777",
                                  "-nn", "merged_one"]) == 0
    assert set_mlflow_paths_main(["-p", str(store), "-id", "two", "-np", str(merged)]) == 0  # by name
    merged.mkdir(parents=True)
    for folder in ("777", ids[1]):
        shutil.copytree(store / folder, merged / folder)
    reader = _client(merged)
    one = reader.get_experiment("777")
    assert one.name == "merged_one" and one.artifact_location == (merged / "777").as_uri()
    assert reader.get_experiment(ids[1]).name == "two"
    run = reader.get_run(runs[ids[0]])
    assert run.info.experiment_id == "777" and run.data.params["model_name"] == "DeepTau2018v0"
    assert run.info.artifact_uri == (merged / "777" / runs[ids[0]] / "artifacts").as_uri()
    assert reader.get_run(runs[ids[1]]).info.artifact_uri.startswith((merged / ids[1]).as_uri())
    assert set_mlflow_paths_main(["-p", str(store), "-id", "nope", "-np", str(merged)]) == 1


@pytest.mark.parametrize("case", ["unknown key", "bad formula", "no scaling file", "feature not in scaling",
                                  "no input files"])
def test_bad_inputs_stop_before_training(case, inputs, tmp_path, capsys):
    store = tmp_path / "mlruns"
    args = _args(inputs, store)
    expected = {"unknown key": "Could not override 'nokey'", "bad formula": "layer width '2*n*('",
                "no scaling file": "missing.json: no such scaling JSON file",
                "feature not in scaling": "no scaling parameters for TauFlat.rho",
                "no input files": "no input files"}[case]
    if case == "unknown key":
        args.append("nokey=1")
    elif case == "bad formula":
        args.append("training_cfg.SetupNN.tau_net={first_layer_width: '2*n*('}")
    elif case == "no scaling file":
        args.append(f"scaling_cfg={tmp_path / 'missing.json'}")
    elif case == "feature not in scaling":
        data = json.loads(inputs["scaling"].read_text())
        del data["TauFlat"]["rho"]
        (tmp_path / "s.json").write_text(json.dumps(data))
        args.append(f"scaling_cfg={tmp_path / 's.json'}")
    else:
        (tmp_path / "empty").mkdir()
        args = [a for a in args if not a.startswith("input_files=")] + [f"training_cfg.Setup.input_dir={tmp_path / 'empty'}"]
    assert train_main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Training_v0p1: error:") and expected in err
    assert not store.exists()
