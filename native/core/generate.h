// Batched autoregressive sampling with a KV cache arena (L, S, KVH*D), S = R * Tmax slots: row r
// owns slots [r*Tmax, (r+1)*Tmax). Rows that repeat a prompt share one prefill (its cache is copied).
// Legend: R rows, L layers, KVH kv heads, D head dim, V vocabulary.
#pragma once
#include <cstdint>

#include "model.h"
#include "sampling.h"

namespace zs {

struct SampleRequest {
  const int* prompts;      // concatenated prompt tokens
  const int* prompt_lens;  // (R)
  int R;
  const uint64_t* seeds;   // (R)
  SampleSettings s;
  int max_new;
  const int* stop; int nstop;
};

struct SampleOutput {
  int* tokens;      // (R, max_new)
  float* logprobs;  // (R, max_new)
  int* lens;        // (R)
  int* finish;      // (R) 0 = stop, 1 = length
};

void model_sample(Model& m, const SampleRequest& req, SampleOutput& out);

}  // namespace zs
