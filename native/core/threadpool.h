// One process-wide thread pool for every kernel. parallel_for hands out items 0..n-1 dynamically;
// kernels make each item's result independent of which thread runs it, so results do not depend
// on the thread count.
#pragma once
#include <functional>

namespace zs {
void set_threads(int n);   // n >= 1; the caller thread counts as one
int get_threads();
// fn(item, tid) with tid in [0, get_threads()); blocks until every item is done.
void parallel_for(int n, const std::function<void(int, int)>& fn);
}  // namespace zs
