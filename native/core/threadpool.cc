#include "threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace zs {
namespace {

// A call hands out items through one 64-bit word (generation << 32 | next item): a worker that wakes
// late sees a newer generation and takes nothing, so a call waits only for items actually taken,
// never for a descheduled worker to check in (that matters on a shared machine).
struct Pool {
  std::mutex call_mu;  // one parallel_for at a time (several AsyncWorkers may call in)
  std::mutex mu;
  std::condition_variable cv, done_cv;
  std::vector<std::thread> workers;
  const std::function<void(int, int)>* fn = nullptr;
  int n = 0;
  std::atomic<uint64_t> word{0};   // gen << 32 | next
  std::atomic<int> done{0};
  std::atomic<bool> waiting{false};
  bool stop = false;
  int nthreads = 1;

  // Takes and runs items of generation g; returns when none are left.
  void work(uint64_t g, int tid) {
    for (;;) {
      uint64_t v = word.load(std::memory_order_acquire);
      if ((v >> 32) != g || (int)(v & 0xffffffffu) >= n) return;
      if (!word.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      (*fn)((int)(v & 0xffffffffu), tid);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == n && waiting.load()) {
        std::lock_guard<std::mutex> lk(mu);
        done_cv.notify_all();
      }
    }
  }
  void loop(int tid, uint64_t seen) {
    for (;;) {
      for (int spin = 0; spin < 2000 && (word.load(std::memory_order_acquire) >> 32) == seen; spin++) __builtin_ia32_pause();
      {
        std::unique_lock<std::mutex> lk(mu);
        // timed: a lost wake-up costs a millisecond, never a deadlock (one was seen under load)
        while (!(stop || (word.load() >> 32) != seen)) cv.wait_for(lk, std::chrono::milliseconds(1));
        if (stop) return;
        seen = word.load() >> 32;
      }
      work(seen, tid);
    }
  }
  void resize(int t) {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    stop = false;
    nthreads = t;
    uint64_t g = word.load() >> 32;
    for (int i = 1; i < t; i++) workers.emplace_back([this, i, g] { loop(i, g); });
  }
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();  // never destroyed: workers must outlive static destructors of the addon
    unsigned hc = std::thread::hardware_concurrency();
    q->resize(hc ? (int)hc : 1);
    return q;
  }();
  return *p;
}

}  // namespace

void set_threads(int n) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lk(p.call_mu);
  if (n < 1) n = 1;
  if (n != p.nthreads) p.resize(n);
}

int get_threads() { return pool().nthreads; }

void parallel_for(int n, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> call(p.call_mu);
  if (p.nthreads == 1 || n == 1) {
    for (int i = 0; i < n; i++) fn(i, 0);
    return;
  }
  uint64_t g;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.fn = &fn;
    p.n = n;
    p.done.store(0);
    g = (p.word.load() >> 32) + 1;
    p.word.store(g << 32, std::memory_order_release);
  }
  p.cv.notify_all();
  p.work(g, 0);
  for (int spin = 0; spin < 20000 && p.done.load(std::memory_order_acquire) != n; spin++) __builtin_ia32_pause();
  if (p.done.load() != n) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.waiting.store(true);
    while (p.done.load() != n) p.done_cv.wait_for(lk, std::chrono::milliseconds(1));
    p.waiting.store(false);
  }
}

}  // namespace zs
