/**
 * The usage text: one section per command, so `ringtrain help` prints them all and
 * `ringtrain <command> --help` prints only its own.
 */

const TITLE = 'ringtrain: data-parallel training of TensorFlow.js models over a gRPC ring';

const SECTIONS: Record<string, string> = {
  launch: `  ringtrain launch [JOB_FILE] --nproc N|auto [--set key=value ...] [--out DIR] [--resume DIR] [--trace FILE] [--cpu-bind none|cores]
      Start a coordinator and N workers on this machine (127.0.0.1) and train (auto: one per CPU
      this process may use). --resume continues
      a run from its newest usable checkpoint (DIR: a run directory, its checkpoints/ or one
      ckpt-* directory), reusing that run's job.json and directory unless JOB_FILE/--out say otherwise.
      --cpu-bind cores gives each worker an equal share of this machine's CPUs, whole cores first.
      torchrun's spellings work too: --nproc-per-node N is --nproc N, --max-restarts N is
      --set cluster.maxRestarts=N.
  ringtrain launch [JOB_FILE] --nproc N --nnodes M --node-rank K --coordinator HOST:PORT [--host ADDR] [...]
      The same job on M machines, N workers each (ranks K*N to K*N+N-1), like torchrun --nnodes.
      Every node gets the same JOB_FILE, --set values and --coordinator; node 0 runs the
      coordinator on PORT (0: any free port, printed), the others join it and advertise --host
      (node 0: HOST). The nodes must share a join token (RINGTRAIN_JOIN_TOKEN or security.tokenFile);
      rank 0, on node 0, writes the model, metrics and checkpoints.`,
  coordinator: `  ringtrain coordinator [JOB_FILE] --world-size N [--port P] [--host H] [--state-file F] [--set ...]
      Run the control plane for a job spread over machines (default port 29400). With --state-file
      a restarted coordinator picks the job up where it was.`,
  worker: `  ringtrain worker [JOB_FILE] --coordinator HOST:PORT [--rank R] [--host ADVERTISE] [--bind ADDR] [--out DIR] [--resume DIR] [--cpus LIST] [--set ...]
      Run one worker. The coordinator may come from RINGTRAIN_COORDINATOR (else MASTER_ADDR and
      MASTER_PORT), the rank from RANK or JOB_COMPLETION_INDEX, the world size from WORLD_SIZE,
      the advertised host from RINGTRAIN_ADVERTISE_HOST or POD_IP, --resume
      from RINGTRAIN_RESUME (only rank 0 reads the checkpoint and sends it to the others).
      --cpus 0-3,8 binds every thread of the worker to those CPUs (as taskset -a does).`,
  report: `  ringtrain report RUN_DIR [--out DIR] [--feature-maps LAYER,...|all] [--images N]
      Write an HTML report with PNG plots of a run (curves, gradient diagnostics, histograms,
      per-rank timing, first-layer filters and feature maps) to RUN_DIR/report or DIR.
      --feature-maps draws the listed layers' maps (default: the first convolution's) for the
      first N test images (--images, default 1, at most 32).`,
  bench: `  ringtrain bench allreduce [--nproc N] [--bytes 4K,400K,100M] [--transport grpc,tcp] [--compression fp32|fp16|bf16]
      nccl-tests-style all-reduce benchmark on 127.0.0.1, with PyTorch gloo side by side when available.
  ringtrain bench train
      Training samples/s for --nproc 1 and 2 against the PyTorch peer (single thread and DDP gloo).
  ringtrain bench core
      One worker against one PyTorch thread per model: samples/s, ratio, GFLOP/s and the share of
      this core's measured FMA peak.
  ringtrain bench profile
      One MLP and one CNN step layer by layer, beside torch.profiler's per-op times.
  ringtrain bench hosts [--nnodes N] [--rates 10000,1000] [--models mlp,cnn] [...] | down
      launch --nnodes across network namespaces with tbf-capped links, against torch DDP (root; docs/hosts.md).
  ringtrain bench model [--models mlp,cnn,resnet] [--alpha-us A] | --calibrate
      The alpha-beta scaling model's samples/s and efficiency for 2..256 nodes (docs/scaling.md).
  ringtrain bench augment
      Step time without augmentation, augmenting inline and on a thread, from one run (BENCH_MODEL=cnn|mlp).
  PyTorch must run on an optimized BLAS (OpenBLAS): against the reference BLAS no ratio is printed.
  BENCH_DOCS=1 also writes the tables to docs/benchmarks/.`,
  eval: `  ringtrain eval --model DIR [JOB_FILE] [--set ...] [--json]
      Test-set metrics of a saved model (DIR: a run's model/ or the run); the data comes from
      JOB_FILE, else the run's job.json. Classification: per-class precision, recall, F1 and the
      confusion matrix; regression: MSE, MAE and R^2.`,
  predict: `  ringtrain predict --model DIR INPUT [--limit N]
      One JSON line per row of INPUT: IDX images (as the dataset ships them), .csv or .json
      ([[...], ...] or {"instances": [...]}) with raw values; the model's preprocessing applies.`,
  export: `  ringtrain export --model DIR --format onnx [--out FILE]
      Write the model as ONNX (opset 13; FILE defaults to DIR.onnx) for ONNX Runtime and other
      serving stacks: input 'input' takes the normalised rows (preprocess.json), output 'output'
      gives logits or regression values. Layers without an ONNX translation are refused by name.
  ringtrain export --model DIR --quantize float16|uint8 [--out DIR2] [JOB_FILE]
      Copy the model with quantized weights and print the test metrics before and after. Only
      the files shrink (half / a quarter of the bytes): the weights are expanded to float32 when
      the model loads, so memory use and speed stay those of the float32 model.
  ringtrain export --model DIR --prune S [--quantize float16|uint8] [--out DIR2] [JOB_FILE]
      Copy the model with the smallest S (0 < S < 1) of each dense/conv kernel's weights set to
      0, then quantized if asked; prints the sparsity and test metrics before and after.`,
  serve: `  ringtrain serve --model DIR [--host 127.0.0.1] [--port 8080] [--max-body BYTES] [--max-batch N]
      HTTP: POST /predict {"instances": [[...], ...]} -> {"predictions": [...]}; GET /healthz.`,
};

const FOOTER = `Job files are YAML or JSON; every field can be overridden with --set (e.g. --set train.epochs=1
data.batchSize=32) or the RINGTRAIN_SET environment variable (key=value;key=value).
Defaults and the meaning of each field: src/config/job-spec.ts.

Exit codes: 0 training finished, 1 the job failed, 2 bad command line or job file.`;

/** Commands in the order the full usage lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(SECTIONS);

export const HELP = `${TITLE}

Usage:
${COMMAND_NAMES.map((name) => SECTIONS[name]).join('\n')}
  ringtrain help [COMMAND] | ringtrain COMMAND --help | ringtrain --version

${FOOTER}
`;

/** One command's usage and the notes that apply to every command; undefined for an unknown name. */
export function commandHelp(name: string): string | undefined {
  const section = SECTIONS[name];
  return section === undefined ? undefined : `Usage:\n${section}\n\n${FOOTER}\n`;
}
