#include "peak.h"

#include <chrono>
#include <vector>

#include <string>

#include "common.h"
#include "kernelset.h"
#include "matmul_avx512.h"
#include "threadpool.h"

namespace zs {

double fma_peak_gflops(long iters) {
  int T = get_threads();
  std::vector<float> sink(T * 8);
  auto t0 = std::chrono::steady_clock::now();
  parallel_for(T, [&](int i, int) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
    for (long it = 0; it < iters; it++)
      for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    __m256 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
    _mm256_storeu_ps(&sink[i * 8], s);
  });
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return (double)T * iters * 12 * 8 * 2 / sec / 1e9;
}

double isa_peak_gflops(const char* isa, long iters) {
  const std::string k = isa;
  if (k == "fma256") return fma_peak_gflops(iters);
  double (*probe)(long) = nullptr;
  if (k == "fma512") { if (!kernel_set_supported(KernelSet::avx512)) return 0; probe = mm::probe_fma512; }
  else if (k == "dpbf16") { if (!kernel_set_supported(KernelSet::avx512bf16)) return 0; probe = mm::probe_dpbf16; }
  else throw EngineError("no peak probe for \"" + k + "\" (fma256, fma512, dpbf16)");
  const int T = get_threads();
  std::vector<double> rate(T);
  parallel_for(T, [&](int i, int) { rate[i] = probe(iters); }, T);
  double sum = 0;
  for (double r : rate) sum += r;
  return sum;
}

}  // namespace zs
