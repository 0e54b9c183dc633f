#include "threadpool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace zs {
namespace {

// Workers spin briefly on the generation counter (kernels come in quick bursts), then sleep.
struct Pool {
  std::mutex call_mu;  // one parallel_for at a time (several AsyncWorkers may call in)
  std::mutex mu;
  std::condition_variable cv, done_cv;
  std::vector<std::thread> workers;
  const std::function<void(int, int)>* fn = nullptr;
  std::atomic<int> next{0};
  int n = 0;
  std::atomic<int> active{0};
  std::atomic<uint64_t> gen{0};
  std::atomic<bool> stop{false};
  int nthreads = 1;

  void work(int tid) {
    for (;;) {
      int i = next.fetch_add(1);
      if (i >= n) break;
      (*fn)(i, tid);
    }
  }
  void loop(int tid, uint64_t seen) {
    for (;;) {
      for (int spin = 0; spin < 4000 && gen.load(std::memory_order_acquire) == seen && !stop.load(); spin++)
        __builtin_ia32_pause();
      if (gen.load(std::memory_order_acquire) == seen && !stop.load()) {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return stop.load() || gen.load() != seen; });
      }
      if (stop.load()) return;
      seen = gen.load();
      work(tid);
      if (active.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu);
        done_cv.notify_all();
      }
    }
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop.store(true);
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    stop.store(false);
  }
  void resize(int t) {
    shutdown();
    nthreads = t;
    uint64_t g = gen.load();  // no call is in flight here (call_mu held or first use)
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
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.fn = &fn;
    p.n = n;
    p.next.store(0);
    p.active.store(p.nthreads - 1);
    p.gen.fetch_add(1, std::memory_order_release);
  }
  p.cv.notify_all();
  p.work(0);
  for (int spin = 0; spin < 20000 && p.active.load(std::memory_order_acquire) != 0; spin++) __builtin_ia32_pause();
  if (p.active.load() != 0) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.done_cv.wait(lk, [&] { return p.active.load() == 0; });
  }
}

}  // namespace zs
