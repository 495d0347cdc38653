{
  "targets": [
    {
      "target_name": "ringtrain_native",
      "sources": ["gemm.cc", "gemm-direct.cc", "optim.cc", "diagnostics.cc", "wire-convert.cc", "batch.cc", "shm.cc", "affinity.cc", "malloc-tuning.cc", "fused-step.cc", "patches.cc", "conv-one-channel.cc", "peak.cc", "addon-step.cc", "addon-heap.cc", "channel-ops.cc", "addon.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=off", "-fno-math-errno"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
