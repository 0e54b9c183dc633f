// Stress of zs::parallel_for, shared by the C++ test program (native/test) and the addon's
// poolStress() (test/native/pool.test.ts): many short calls with varying n from several callers at
// once, each checking that every index of its own call ran exactly once, with its own closure,
// in range, and never after the call returned.
#pragma once
#include <cstdint>
#include <string>

namespace zs {

struct PoolStressResult {
  uint64_t calls = 0;        // parallel_for calls completed
  uint64_t items = 0;        // items checked
  uint64_t missing = 0;      // an index that never ran
  uint64_t duplicate = 0;    // an index that ran more than once
  uint64_t out_of_range = 0; // a closure called with an index >= its n
  uint64_t late = 0;         // a closure that ran after its call returned
  uint64_t bad_tid = 0;      // tid outside [0, get_threads())
  bool ok() const { return missing + duplicate + out_of_range + late + bad_tid == 0; }
  std::string describe() const;
};

// Runs calls for `millis` ms (or `max_calls`, whichever comes first) with n drawn from 1..max_n
// by a counter-based hash of (seed, call). Thread-safe: several callers may run it at once.
PoolStressResult pool_stress(uint64_t seed, int millis, uint64_t max_calls, int max_n);

}  // namespace zs
