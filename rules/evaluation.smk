# Evaluation: apply_training per testing item and model (tauml.cli.evaluation -> tauml.evaluation.apply),
# baseline_bdt train/apply (-> tauml.evaluation.bdt), evaluate_performance per (tau_h item, other item) pair
# (-> tauml.evaluation.performance), and the report's extra entries (workflow/scripts/report_config.py):
#   predictions/{model}/<item>_pred.h5, predictions/bdt/<item>_pred.h5, models/bdt/bdt.pkl,
#   plots/{model}/<taus>_vs_<other>.pdf + _pt_<lo>_<hi>.png + .json, report/config.yaml, report/validation/,
#   report/losses/{model}.png (workflow/scripts/loss_curves.py)


rule apply_training:
    input:
        testing=f"{PREP_DIR}/testing",
        model=model_form,
        cfg=TRAINING_CFG_PATH,
        scaling=SCALING_JSON,
    output:
        f"{PRED_DIR}/{{model}}/{{item}}_pred.h5",
    wildcard_constraints:
        model="|".join(map(re.escape, eval_models())),
        item="|".join(map(re.escape, TESTING_ITEMS)),
    params:
        tuple=lambda w, input: f"{input.testing}/{w.item}.root",
        out_dir=output_dir,
        batch_size=EVALUATION["batch_size"],
    log:
        f"{OUT}/logs/apply_training/{{model}}/{{item}}.log",
    benchmark:
        f"{OUT}/benchmarks/apply_training/{{model}}/{{item}}.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: EVALUATION["threads"]
    resources:
        # measured peaks: 2.9 GB at 100 taus per call, 5.0 GB at 250 (the model's layer outputs, ~16 MB per tau)
        mem_mb=1500 + 16 * EVALUATION["batch_size"],
        disk_mb=500,
        runtime=EVALUATION["runtime"],
    shell:
        "apply_training --input {params.tuple:q} --output {params.out_dir:q} --model {input.model:q}"
        " --training-cfg {input.cfg:q} --scaling {input.scaling:q} --batch-size {params.batch_size} > {log:q} 2>&1"


rule train_bdt:
    input:
        expand(f"{SHUFFLED_DIR}/ShuffleMergeSpectral_{{idx}}.root", idx=SPECTRAL_JOBS),
    output:
        model=BDT_MODEL,
        working_points=BDT_WORKING_POINTS,
    params:
        bdt=EVALUATION["bdt"],
    log:
        f"{OUT}/logs/train_bdt/bdt.log",
    benchmark:
        f"{OUT}/benchmarks/train_bdt/bdt.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: EVALUATION["threads"]
    resources:
        mem_mb=3000,
        disk_mb=100,
        runtime=EVALUATION["runtime"],
    shell:
        "baseline_bdt train --input {input:q} --output {output.model:q} --seed {params.bdt[seed]}"
        " --max-iter {params.bdt[max_iter]} --learning-rate {params.bdt[learning_rate]}"
        " --max-leaf-nodes {params.bdt[max_leaf_nodes]} > {log:q} 2>&1"


rule apply_bdt:
    input:
        testing=f"{PREP_DIR}/testing",
        model=BDT_MODEL,
    output:
        f"{PRED_DIR}/bdt/{{item}}_pred.h5",
    wildcard_constraints:
        item="|".join(map(re.escape, TESTING_ITEMS)),
    params:
        tuple=lambda w, input: f"{input.testing}/{w.item}.root",
        out_dir=output_dir,
    log:
        f"{OUT}/logs/apply_bdt/{{item}}.log",
    benchmark:
        f"{OUT}/benchmarks/apply_bdt/{{item}}.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        disk_mb=100,
        runtime=EVALUATION["runtime"],
    shell:
        "baseline_bdt apply --model {input.model:q} --input {params.tuple:q} --output {params.out_dir:q} > {log:q} 2>&1"


rule evaluate_performance:
    input:
        unpack(pair_inputs),
    output:
        pdf=f"{PLOTS_DIR}/{{model}}/{{pair}}.pdf",
        json=f"{PLOTS_DIR}/{{model}}/{{pair}}.json",
        pngs=[report(png, caption="../report/roc.rst", category="ROC curves", subcategory="{model}")
              for png in EVAL_PNGS],
    wildcard_constraints:
        model="|".join(map(re.escape, eval_models())),
        pair="|".join(map(re.escape, EVAL_PAIRS)),
    params:
        taus=pair_tuple("taus"),
        other=pair_tuple("other"),
        deep=lambda w, input: os.path.dirname(input.deep[0]),
        bdt=lambda w, input: os.path.dirname(input.bdt[0]),
        flags=evaluation_flags,
    log:
        f"{OUT}/logs/evaluate_performance/{{model}}/{{pair}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_performance/{{model}}/{{pair}}.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        disk_mb=100,
        runtime=EVALUATION["runtime"],
    shell:
        "evaluate_performance --input-taus {params.taus:q} --input-other {params.other:q}"
        " --deep-results {params.deep:q} --deep-results-label 'DeepTau ({wildcards.model})'"
        " --mva-results {params.bdt:q} --mva-working-points {input.bdt_wp:q} --output {output.pdf:q} {params.flags} > {log:q} 2>&1"


rule report_config:
    output:
        report(f"{REPORT_DIR}/config.yaml", caption="../report/config.rst", category="Configuration"),
    log:
        f"{OUT}/logs/report_config/config.log",
    benchmark:
        f"{OUT}/benchmarks/report_config/config.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=5,
    script:
        "../workflow/scripts/report_config.py"


rule report_validation:
    input:
        f"{VALIDATION_DIR}/png",
    output:
        report(directory(f"{REPORT_DIR}/validation"), patterns=["{name}.png"], caption="../report/validation.rst",
               category="Validation"),
    log:
        f"{OUT}/logs/report_validation/validation.log",
    benchmark:
        f"{OUT}/benchmarks/report_validation/validation.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=100,
        runtime=5,
    shell:
        "(rm -rf {output:q}.tmp && cp -r {input:q} {output:q}.tmp && mv {output:q}.tmp {output:q}) > {log:q} 2>&1"


rule report_losses:
    input:
        f"{MODELS_DIR}/{{model}}/mlflow_run.json",
    output:
        report(f"{REPORT_DIR}/losses/{{model}}.png", caption="../report/losses.rst", category="Training"),
    wildcard_constraints:
        model="|".join(map(re.escape, eval_models())),
    log:
        f"{OUT}/logs/report_losses/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/report_losses/{{model}}.tsv"
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=10,
        runtime=5,
    script:
        "../workflow/scripts/loss_curves.py"


ALL_TARGETS.extend(evaluation_targets())
