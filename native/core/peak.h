// Measured peaks (for MFU), one probe per instruction: independent FMA / dot-product chains on every pool thread.
#pragma once

namespace zs {
// GFLOP/s of `iters` rounds of 12 independent 8-wide FMAs per thread (vfmadd231ps ymm), on all threads.
double fma_peak_gflops(long iters);
// The same per instruction: "fma256" (ymm FMA, every CPU), "fma512" (zmm FMA, AVX-512F), "dpbf16" (zmm
// vdpbf16ps, AVX512-BF16: 64 flops an instruction). Returns 0 where the CPU lacks the instruction; throws
// EngineError on another name.
double isa_peak_gflops(const char* isa, long iters);
}  // namespace zs
