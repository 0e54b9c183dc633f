#include "pool_stress.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "sampling.h"
#include "threadpool.h"

namespace zs {

std::string PoolStressResult::describe() const {
  return std::to_string(calls) + " calls, " + std::to_string(items) + " items: " + std::to_string(missing) +
         " missing, " + std::to_string(duplicate) + " duplicate, " + std::to_string(out_of_range) +
         " out of range, " + std::to_string(late) + " late, " + std::to_string(bad_tid) + " bad tid";
}

namespace {
// One call's ledger. Ledgers live in a ring that outlives the call, so a closure that runs late
// (after its call returned) writes into memory that is still valid and is counted, not a crash.
struct Ledger {
  std::atomic<int> closed{0};
  std::atomic<int> count[64];
  int n = 0;
};
constexpr int kRing = 256;
}  // namespace

PoolStressResult pool_stress(uint64_t seed, int millis, uint64_t max_calls, int max_n) {
  if (max_n > 64) max_n = 64;
  if (max_n < 1) max_n = 1;
  std::unique_ptr<Ledger[]> ring(new Ledger[kRing]);
  std::atomic<uint64_t> out_of_range{0}, late{0}, bad_tid{0};
  PoolStressResult r;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t c = 0; c < max_calls; c++) {
    if ((c & 255) == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(millis)) break;
    Ledger& L = ring[c % kRing];
    // A ledger is reused kRing calls later: whatever a late closure added meanwhile is counted first.
    for (int i = 0; i < 64; i++) L.count[i].store(0, std::memory_order_relaxed);
    L.n = 1 + (int)(rng_uniform(seed, c) * max_n);
    L.closed.store(0, std::memory_order_release);
    const int n = L.n, threads = get_threads();
    Ledger* mine = &L;
    parallel_for(n, [&, mine, n, threads](int i, int tid) {
      if (mine->closed.load(std::memory_order_acquire)) late.fetch_add(1);
      if (tid < 0 || tid >= threads) bad_tid.fetch_add(1);
      if (i < 0 || i >= n) { out_of_range.fetch_add(1); return; }
      mine->count[i].fetch_add(1, std::memory_order_relaxed);
    }, threads);  // tid < threads even if another thread changes the count meanwhile
    for (int i = 0; i < n; i++) {
      int k = L.count[i].load(std::memory_order_relaxed);
      if (k == 0) r.missing++;
      if (k > 1) r.duplicate++;
    }
    L.closed.store(1, std::memory_order_release);
    r.items += n;
    r.calls++;
  }
  r.out_of_range = out_of_range.load();
  r.late = late.load();
  r.bad_tid = bad_tid.load();
  return r;
}

}  // namespace zs
