// One process-wide thread pool for every kernel. parallel_for hands out items 0..n-1 dynamically;
// kernels make each item's result independent of which thread runs it, so results do not depend
// on the thread count. Several threads may call parallel_for at once (calls run one after another);
// every item of a call runs exactly once, with that call's fn, before the call returns.
#pragma once
#include <cstdint>
#include <functional>

namespace zs {
void set_threads(int n);   // n >= 1; the caller thread counts as one; safe while other threads call in
int get_threads();
// Items run by pool workers rather than the calling thread, since the process started: it grows
// only when a call really ran on more than one thread (the tests' proof that they did).
uint64_t pool_worker_items();
// fn(item, tid), blocks until every item is done. tid < min(width, get_threads() at the call) when
// width > 0, so a kernel with per-thread scratch passes the number of slices it allocated: a
// concurrent set_threads can never hand it a tid past its scratch.
void parallel_for(int n, const std::function<void(int, int)>& fn, int width = 0);
}  // namespace zs
