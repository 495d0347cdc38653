export const HELP = `ringtrain: data-parallel training of TensorFlow.js models over a gRPC ring

Usage:
  ringtrain launch [JOB_FILE] --nproc N [--set key=value ...] [--out DIR]
      Start a coordinator and N workers on this machine (127.0.0.1) and train.
  ringtrain coordinator [JOB_FILE] --world-size N [--port P] [--host H] [--set ...]
      Run the control plane for a job spread over machines (default port 29400).
  ringtrain worker [JOB_FILE] --coordinator HOST:PORT [--rank R] [--host ADVERTISE] [--bind ADDR] [--out DIR] [--set ...]
      Run one worker. The coordinator may come from RINGTRAIN_COORDINATOR, the rank from RANK or
      JOB_COMPLETION_INDEX, the advertised host from RINGTRAIN_ADVERTISE_HOST or POD_IP.
  ringtrain bench allreduce [--nproc N] [--bytes 4K,400K,100M] [--transport grpc,tcp] [--compression fp32|fp16|bf16]
      nccl-tests-style all-reduce benchmark on 127.0.0.1, with PyTorch gloo side by side when available.
  ringtrain bench train
      Training samples/s for --nproc 1 and 2 against the PyTorch peer.

Job files are YAML or JSON; every field can be overridden with --set (e.g. --set train.epochs=1
data.batchSize=32) or the RINGTRAIN_SET environment variable (key=value;key=value).
Defaults and the meaning of each field: src/config/job-spec.ts.

Exit codes: 0 training finished, 1 the job failed, 2 bad command line or job file.
`;
