#include "kernelset.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"

namespace zs {

const char* kernel_set_name(KernelSet s) {
  switch (s) {
    case KernelSet::avx2: return "avx2";
    case KernelSet::avx512: return "avx512";
    case KernelSet::avx512bf16: return "avx512-bf16";
  }
  return "?";
}

// libgcc's checks include the OS's (XCR0 saves the zmm state), not only CPUID's bits.
bool kernel_set_supported(KernelSet s) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  switch (s) {
    case KernelSet::avx2: return avx2;
    case KernelSet::avx512: return avx512;
    case KernelSet::avx512bf16: return avx512 && __builtin_cpu_supports("avx512bf16");
  }
  return false;
}

KernelSet best_kernel_set() {
  if (kernel_set_supported(KernelSet::avx512bf16)) return KernelSet::avx512bf16;
  if (kernel_set_supported(KernelSet::avx512)) return KernelSet::avx512;
  return KernelSet::avx2;
}

KernelSet parse_kernel_set(const char* name) {
  for (KernelSet s : {KernelSet::avx2, KernelSet::avx512, KernelSet::avx512bf16})
    if (std::strcmp(name, kernel_set_name(s)) == 0) return s;
  throw EngineError(std::string("ZS_KERNELS=") + name + " is no kernel set (avx2, avx512, avx512-bf16)");
}

namespace {
std::atomic<int> g_set{-1};

KernelSet from_env() {
  const char* e = std::getenv("ZS_KERNELS");
  if (!e || !*e) return best_kernel_set();
  const KernelSet s = parse_kernel_set(e);
  if (!kernel_set_supported(s))
    throw EngineError(std::string("ZS_KERNELS=") + e + ": this CPU cannot run the " + kernel_set_name(s) + " kernel set (best it has: " +
                      kernel_set_name(best_kernel_set()) + ")");
  return s;
}
}  // namespace

KernelSet kernel_set() {
  int v = g_set.load(std::memory_order_acquire);
  if (v < 0) {
    v = (int)from_env();
    int expected = -1;
    if (!g_set.compare_exchange_strong(expected, v, std::memory_order_acq_rel)) v = expected;
  }
  return (KernelSet)v;
}

void set_kernel_set(KernelSet s) {
  if (!kernel_set_supported(s))
    throw EngineError(std::string("this CPU cannot run the ") + kernel_set_name(s) + " kernel set (best it has: " + kernel_set_name(best_kernel_set()) + ")");
  g_set.store((int)s, std::memory_order_release);
}

}  // namespace zs
