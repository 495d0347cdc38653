{
  "targets": [
    {
      "target_name": "ringtrain_native",
      "sources": ["gemm.cc", "addon.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
