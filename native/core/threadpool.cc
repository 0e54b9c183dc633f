#include "threadpool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace zs {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// One parallel_for call. It lives on the caller's stack and is never reused: its items are handed
// out by its own counter, so an index can only ever mean an item of this call, and a worker that
// was slow to wake can never take an item of a later call.
struct Job {
  const std::function<void(int, int)>* fn;
  int n;
  int width;                 // only tids < width take part (per-thread scratch sized by the caller)
  std::atomic<int> next{0};  // next item to take; items >= n are never run
};

// The invariant, in one place: `current` and `joined` change only under `mu`.
//  - A worker joins a job only while it is `current` (under mu), and counts itself in `joined`.
//  - The caller retracts the job (current = nullptr, under mu) once every item has been taken, then
//    waits under mu until `joined` is 0. After that no worker holds a pointer to the job, so it may
//    leave the caller's stack. Every item was taken exactly once (fetch_add) and finished by whoever
//    took it before that taker left, so every item has run exactly once when parallel_for returns.
// Waits are plain condition-variable waits on predicates read under mu: no lost wake-up is possible.
struct Pool {
  std::mutex call_mu;  // one parallel_for at a time (several AsyncWorkers may call in)
  std::mutex mu;
  std::condition_variable work_cv;  // workers: a job was published, or stop
  std::condition_variable idle_cv;  // caller: the last joined worker left
  Job* current = nullptr;           // guarded by mu
  uint64_t published = 0;           // jobs published so far (guarded by mu)
  int joined = 0;                   // workers inside `current` (guarded by mu)
  uint64_t worker_items = 0;        // items run by workers, not callers, since start (guarded by mu)
  bool stop = false;                // guarded by mu
  std::atomic<uint64_t> hint{0};    // == published; read without the lock only to spin before sleeping
  std::vector<std::thread> workers;
  int nthreads = 1;

  static int take_items(Job& j, int tid) {
    int took = 0;
    for (int i = j.next.fetch_add(1, std::memory_order_relaxed); i < j.n; i = j.next.fetch_add(1, std::memory_order_relaxed)) {
      (*j.fn)(i, tid);
      took++;
    }
    return took;
  }

  void loop(int tid) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lk(mu);
      seen = published;
    }
    for (;;) {
      // a short spin: kernels call parallel_for back to back, and a futex wake costs microseconds
      for (int spin = 0; spin < 4000 && hint.load(std::memory_order_acquire) == seen; spin++) cpu_relax();
      Job* j;
      {
        std::unique_lock<std::mutex> lk(mu);
        work_cv.wait(lk, [&] { return stop || (current != nullptr && published != seen && tid < current->width); });
        if (stop) return;
        seen = published;
        j = current;
        joined++;
      }
      const int took = take_items(*j, tid);
      {
        std::lock_guard<std::mutex> lk(mu);
        worker_items += took;
        if (--joined == 0) idle_cv.notify_one();
      }
    }
  }

  void run(int n, int width, const std::function<void(int, int)>& fn) {
    Job j{&fn, n, width};
    {
      std::lock_guard<std::mutex> lk(mu);
      current = &j;
      published++;
      hint.store(published, std::memory_order_release);
    }
    work_cv.notify_all();
    take_items(j, 0);
    std::unique_lock<std::mutex> lk(mu);
    current = nullptr;  // every item is taken: nobody may join any more
    idle_cv.wait(lk, [&] { return joined == 0; });
  }

  // Called with call_mu held, so no job is running.
  void resize(int t) {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    work_cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = false;
    }
    nthreads = t;
    for (int i = 1; i < t; i++) workers.emplace_back([this, i] { loop(i); });
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

int get_threads() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lk(p.call_mu);
  return p.nthreads;
}

uint64_t pool_worker_items() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lk(p.mu);
  return p.worker_items;
}

void parallel_for(int n, const std::function<void(int, int)>& fn, int width) {
  if (n <= 0) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> call(p.call_mu);
  int w = width > 0 && width < p.nthreads ? width : p.nthreads;
  if (w == 1 || n == 1) {
    for (int i = 0; i < n; i++) fn(i, 0);
    return;
  }
  p.run(n, w, fn);
}

}  // namespace zs
