// The kernel set: which instruction set's kernels the engine runs, chosen at run time from the CPU (one build
// for every x86-64-v3 machine, never -march=native) or forced by ZS_KERNELS=avx2|avx512|avx512-bf16.
//   avx2         6x16 FMA micro-kernel on ymm (every x86-64-v3 CPU)
//   avx512       6x32 micro-kernel on zmm (AVX-512F/BW/VL): the same FMA chain per output as avx2, so the
//                same bits in f32 and in emulated bf16 compute; bf16 panels stored as k pairs
//   avx512-bf16  avx512, and compute bf16 with vdpbf16ps (AVX512-BF16): two bf16 products per lane and
//                instruction, summed in pairs, so compute bf16's bits differ from the emulated sets'
// Only the linear layers' products depend on it; everything else is one AVX2 code path.
#pragma once

namespace zs {

enum class KernelSet { avx2 = 0, avx512 = 1, avx512bf16 = 2 };

const char* kernel_set_name(KernelSet s);      // "avx2", "avx512", "avx512-bf16"
bool kernel_set_supported(KernelSet s);        // the CPU (and OS) can run it
KernelSet best_kernel_set();                   // the best the CPU supports
// The active set: ZS_KERNELS when set (an unknown name or a set the CPU lacks throws EngineError, naming
// both), else the best; read once, at the first call.
KernelSet kernel_set();
// Tests and benchmarks only: switch sets between calls (never while a matmul or a sampler call runs: packed
// bf16 panels are laid out for the set that packed them). Throws when the CPU lacks s.
void set_kernel_set(KernelSet s);
// The set's name as ZS_KERNELS spells it -> the set; throws EngineError on an unknown name.
KernelSet parse_kernel_set(const char* name);

}  // namespace zs
