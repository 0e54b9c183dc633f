// Batched autoregressive sampling with a KV cache arena (L, S, KVH*D), S = R * Tmax slots: row r
// owns slots [r*Tmax, (r+1)*Tmax). Rows that repeat a prompt share one prefill (its cache is copied).
// One call runs four steps: plan_prompts (dedup), the workspace (arena and step buffers, sized once),
// prefill (one forward over the distinct prompts, then the cache copies), decode (sample, forward).
// Legend: R rows, U distinct prompts, N tokens of one forward, L layers, C hidden, KVH kv heads,
// D head dim, V vocabulary, Tmax = longest prompt + max_new.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

// Wall time of one model_sample call in ms, owned by the caller (the binding fills one per call
// under ZS_PROFILE). Steps: setup (plan, workspace, weight packing), prefill (with the cache copies),
// sampling (the draws), decode (the forwards after each draw). phase[] splits every forward of the
// call: embed, norm+qkv, rope+kv, attention, o_proj, mlp, head.
struct SampleProfile {
  static constexpr int kPhases = 7;
  static const char* const kPhaseNames[kPhases];
  double setup = 0, prefill = 0, sampling = 0, decode = 0;
  double phase[kPhases] = {};
  // "sample: setup 1.0ms prefill 2.0ms sampling 0.5ms decode 9.0ms | embed 0.1ms ..."
  std::string describe() const;
};

// prof may be nullptr (no timing). Results never depend on it.
void model_sample(Model& m, const SampleRequest& req, SampleOutput& out, SampleProfile* prof = nullptr);

// Step 1, exposed for native/test: the prefill batch. The first row holding each distinct prompt
// prefills it; later rows with the same prompt copy its cache and first logits.
struct PromptPlan {
  std::vector<int> owner;             // (R) the row whose prefill row r uses (r itself when it prefills)
  std::vector<int> unique;            // (U) the rows that prefill, in row order
  std::vector<int> slot;              // (R) index in unique of owner[r]
  std::vector<int> tokens, pos, rows; // (N) the prefill batch: token, position in its prompt, row
  std::vector<int> last;              // (U) index in tokens of each distinct prompt's last token
  int max_prompt = 0;                 // longest prompt
};
// Throws EngineError naming an empty prompt.
PromptPlan plan_prompts(const SampleRequest& req);

}  // namespace zs
