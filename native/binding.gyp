{
  "targets": [{
    "target_name": "zerostream_native",
    "sources": [
      "core/threadpool.cc", "core/matmul.cc", "core/rmsnorm.cc", "core/rope.cc", "core/attention.cc",
      "core/swiglu.cc", "core/logprob.cc", "core/adamw.cc", "core/sampling.cc", "core/model.cc",
      "core/train.cc", "core/generate.cc", "core/safetensors.cc", "core/peak.cc", "core/kernelset.cc", "core/matmul_avx512.cc", "test/pool_stress.cc",
      "binding/addon.cc", "binding/workers.cc", "binding/kernels.cc", "binding/adam.cc"
    ],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "core", "test"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=gnu++17", "-O3", "-march=x86-64-v3", "-ffp-contract=fast", "-fexceptions", "-fno-math-errno", "-Wall", "-Wno-unused-function"],
    "ldflags": ["-pthread"]
  }]
}
