# Training: Training_v0p1 (tauml.cli.training -> tauml.training.run), one `train` job per line of the override
# file named by config["training"]["runs"]; every run lands in the mlflow experiment
# config["training"]["experiment_name"] of the file store mlruns/ and writes models/{run}/ (model.keras,
# saved_model/, frozen.pb, mlflow_run.json).


rule train:
    input:
        tuples=TRAINING_TUPLES,
        scaling=SCALING_JSON,
        cfg=TRAIN_TRAINING_CFG,
        train_cfg=TRAIN_CONFIG,
    output:
        keras=f"{MODELS_DIR}/{{run}}/model.keras",
        frozen=f"{MODELS_DIR}/{{run}}/frozen.pb",
        saved_model=directory(f"{MODELS_DIR}/{{run}}/saved_model"),
        run_info=f"{MODELS_DIR}/{{run}}/mlflow_run.json",
    wildcard_constraints:
        run="|".join(map(re.escape, TRAINING_RUNS)),
    params:
        config_dir=lambda w, input: os.path.dirname(input.train_cfg),
        files=training_input_files,
        model_dir=lambda w, output: os.path.dirname(output.keras),
        mlruns=MLRUNS_DIR,
        experiment=TRAINING["experiment_name"],
        overrides=training_overrides,
    log:
        f"{OUT}/logs/train/{{run}}.log",
    benchmark:
        f"{OUT}/benchmarks/train/{{run}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: TRAINING["threads"]
    resources:
        mem_mb=TRAINING["mem_mb"],
        disk_mb=TRAINING["disk_mb"],
        runtime=TRAINING["runtime"],
        gpu=int(TRAINING["gpu"]),
    shell:
        "Training_v0p1 --config-dir {params.config_dir:q} experiment_name={params.experiment:q}"
        " path_to_mlflow={params.mlruns:q} scaling_cfg={input.scaling:q} {params.files:q} model_dir={params.model_dir:q}"
        " run_name={wildcards.run} {params.overrides} > {log:q} 2>&1"


ALL_TARGETS.extend(expand(f"{MODELS_DIR}/{{run}}/model.keras", run=TRAINING_RUNS))
