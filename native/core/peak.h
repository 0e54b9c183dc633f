// Measured FP32 FMA peak (for MFU): independent ymm FMA chains on every pool thread.
#pragma once

namespace zs {
// Returns GFLOP/s of `iters` rounds of 12 independent 8-wide FMAs per thread, on all threads.
double fma_peak_gflops(long iters);
}  // namespace zs
