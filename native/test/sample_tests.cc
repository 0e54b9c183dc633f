// model_sample tests: the pinned bits of the sampler before it was split into steps, each step
// (prompt plan, profile) on its own, and agreement with a plain sampler without the KV cache.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "generate.h"
#include "harness.h"
#include "sampling.h"
#include "threadpool.h"
#include "train.h"

namespace zst {
namespace {

// ---- sampling: the pinned bits of model_sample, and a reference without the KV cache -----------

struct SampleCase { std::vector<std::vector<int>> prompts; std::vector<uint64_t> seeds; zs::SampleSettings s; int max_new; std::vector<int> stop; };

std::vector<SampleCase> sample_cases() {
  std::vector<int> a = {5, 17, 33, 2}, b = {40, 41, 42, 43, 44, 45, 46, 47, 48}, c = {9}, d = {60, 61, 62, 63, 64, 1, 2};
  return {
      {{a, b, a, c, b, a, d}, {1, 2, 3, 4, 5, 6, 7}, {1.f, 1.f, -1}, 16, {3, 11}},
      {{a, b, a, c, b, a, d}, {1, 2, 3, 4, 5, 6, 7}, {0.7f, 0.9f, 20}, 16, {3, 11}},
      {{d, c}, {99, 100}, {1.f, 0.5f, 0}, 12, {}},
      {{b, b, b}, {8, 8, 9}, {0.f, 1.f, 0}, 10, {7}},
      {{c, a, d, b}, {21, 22, 23, 24}, {1.3f, 0.95f, 5}, 20, {0}},
      {{a}, {1234567}, {1.f, 1.f, 1}, 30, {}},
  };
}

struct SampleResult { std::vector<int> tokens, lens, finish; std::vector<float> lp; };

SampleResult run_sample(zs::Model& m, const SampleCase& k) {
  std::vector<int> flat, plens;
  for (auto& p : k.prompts) { flat.insert(flat.end(), p.begin(), p.end()); plens.push_back((int)p.size()); }
  const int R = (int)k.prompts.size();
  SampleResult r;
  r.tokens.assign((size_t)R * k.max_new, -1); r.lp.assign((size_t)R * k.max_new, 0.f); r.lens.resize(R); r.finish.resize(R);
  zs::SampleRequest req{flat.data(), plens.data(), R, k.seeds.data(), k.s, k.max_new, k.stop.data(), (int)k.stop.size()};
  zs::SampleOutput out{r.tokens.data(), r.lp.data(), r.lens.data(), r.finish.data()};
  zs::model_sample(m, req, out);
  return r;
}

uint64_t fnv(uint64_t h, const void* p, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
  return h;
}

// Every case on one model (the KV arena reused across calls of different shapes), hashed.
uint64_t sample_digest() {
  zs::Model m(tiny_config());
  m.init_random(11, 0.3f);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const SampleCase& k : sample_cases()) {
    SampleResult r = run_sample(m, k);
    for (size_t row = 0; row < r.lens.size(); row++) {
      h = fnv(h, &r.lens[row], sizeof(int)); h = fnv(h, &r.finish[row], sizeof(int));
      h = fnv(h, &r.tokens[row * k.max_new], sizeof(int) * r.lens[row]);
      h = fnv(h, &r.lp[row * k.max_new], sizeof(float) * r.lens[row]);
    }
  }
  return h;
}

// model_sample's bits before it was split into steps (prompt plan, prefill, cache copy, decode):
// the same cases, seeds and model give the same tokens and log-probs, with 1, 2 and 3 threads. The
// pin holds for the addon's flags (-O3); the ThreadSanitizer build (-O1) rounds differently, so there
// only the thread counts are compared with each other.
void sample_pinned() {
  const uint64_t kPinned = 0xb72a81aa50006c69ULL;
#if defined(__SANITIZE_THREAD__)
  const bool pinned = false;
#else
  const bool pinned = true;
#endif
  uint64_t first = 0;
  for (int t : {1, 2, 3}) {
    zs::set_threads(t);
    uint64_t h = sample_digest();
    std::printf("    %d threads: %016llx%s\n", t, (unsigned long long)h, pinned ? "" : " (pin not checked: -O1 build)");
    if (t == 1) first = h;
    CHECK(h == first, "model_sample's bits differ between 1 and %d threads", t);
    CHECK(!pinned || h == kPinned, "model_sample's bits changed with %d threads: %016llx, pinned %016llx", t,
          (unsigned long long)h, (unsigned long long)kPinned);
  }
  zs::set_threads(2);
}

// A plain sampler with no KV cache and no shared prefill: each row alone, each step a full forward
// (model_logits) over prompt + tokens so far, then sample_row with the row's (seed, step) draw.
SampleResult sample_no_cache(zs::Model& m, const SampleCase& k) {
  const int R = (int)k.prompts.size(), V = m.cfg.vocab_size;
  SampleResult r;
  r.tokens.assign((size_t)R * k.max_new, -1); r.lp.assign((size_t)R * k.max_new, 0.f); r.lens.assign(R, 0); r.finish.assign(R, 1);
  std::vector<int> idx(V);
  std::vector<float> prob(V);
  for (int row = 0; row < R; row++) {
    std::vector<int> seq = k.prompts[row];
    for (int step = 0; step < k.max_new; step++) {
      std::vector<float> logits(seq.size() * (size_t)V);
      int len = (int)seq.size();
      zs::model_logits(m, logits.data(), seq.data(), &len, 1);
      float lp;
      int y = zs::sample_row(&lp, idx.data(), prob.data(), &logits[(size_t)(len - 1) * V], V, k.s, zs::rng_uniform(k.seeds[row], step));
      r.tokens[(size_t)row * k.max_new + step] = y;
      r.lp[(size_t)row * k.max_new + step] = lp;
      r.lens[row] = step + 1;
      seq.push_back(y);
      if (std::find(k.stop.begin(), k.stop.end(), y) != k.stop.end()) { r.finish[row] = 0; break; }
    }
  }
  return r;
}

void sample_vs_no_cache() {
  zs::Model m(tiny_config());
  m.init_random(11, 0.3f);
  int cases = 0;
  double worst = 0;
  for (const SampleCase& k : sample_cases()) {
    SampleResult a = run_sample(m, k), b = sample_no_cache(m, k);
    CHECK(a.lens == b.lens && a.finish == b.finish, "case %d: lengths or finish differ from the no-cache sampler", cases);
    for (size_t row = 0; row < a.lens.size(); row++)
      for (int i = 0; i < a.lens[row]; i++) {
        size_t at = row * k.max_new + i;
        CHECK(a.tokens[at] == b.tokens[at], "case %d row %zu step %d: token %d, no-cache %d", cases, row, i, a.tokens[at], b.tokens[at]);
        worst = std::fmax(worst, std::fabs((double)a.lp[at] - b.lp[at]));
      }
    cases++;
  }
  std::printf("    %d cases: tokens equal, log-prob max-abs %.2e\n", cases, worst);
  CHECK(worst == 0, "log-probs differ from the no-cache sampler (max-abs %g)", worst);
}

// The steps of model_sample: the prompt plan (dedup) and the caller-owned profile.
void sample_steps() {
  std::vector<int> a = {5, 6, 7}, b = {8, 9}, c = {5, 6};  // c is a prefix of a: a different prompt
  std::vector<int> flat, lens;
  for (auto* p : {&a, &b, &a, &c, &b, &a}) { flat.insert(flat.end(), p->begin(), p->end()); lens.push_back((int)p->size()); }
  std::vector<uint64_t> seeds(6, 1);
  zs::SampleRequest req{flat.data(), lens.data(), 6, seeds.data(), {1.f, 1.f, -1}, 4, nullptr, 0};
  zs::PromptPlan plan = zs::plan_prompts(req);
  CHECK((plan.owner == std::vector<int>{0, 1, 0, 3, 1, 0}), "owner");
  CHECK((plan.unique == std::vector<int>{0, 1, 3}), "unique");
  CHECK((plan.slot == std::vector<int>{0, 1, 0, 2, 1, 0}), "slot");
  CHECK((plan.tokens == std::vector<int>{5, 6, 7, 8, 9, 5, 6}), "prefill tokens");
  CHECK((plan.pos == std::vector<int>{0, 1, 2, 0, 1, 0, 1}), "prefill positions");
  CHECK((plan.rows == std::vector<int>{0, 0, 0, 1, 1, 3, 3}), "prefill rows");
  CHECK((plan.last == std::vector<int>{2, 4, 6}), "last tokens");
  CHECK(plan.max_prompt == 3, "max_prompt");
  lens[2] = 0;
  std::string err;
  try { zs::plan_prompts(req); } catch (const zs::EngineError& e) { err = e.what(); }
  CHECK(err == "prompts[2] is empty", "empty prompt: got '%s'", err.c_str());

  // The profile is the caller's: filled only when passed, per call, and it never changes a result.
  zs::Model m(tiny_config());
  m.init_random(11, 0.3f);
  const SampleCase k = sample_cases()[0];
  std::vector<int> pflat, plens;
  for (auto& p : k.prompts) { pflat.insert(pflat.end(), p.begin(), p.end()); plens.push_back((int)p.size()); }
  const int R = (int)k.prompts.size();
  zs::SampleRequest preq{pflat.data(), plens.data(), R, k.seeds.data(), k.s, k.max_new, k.stop.data(), (int)k.stop.size()};
  SampleResult plain = run_sample(m, k);
  zs::SampleProfile prof[2];
  for (zs::SampleProfile& pf : prof) {
    SampleResult r;
    r.tokens.assign((size_t)R * k.max_new, -1); r.lp.assign((size_t)R * k.max_new, 0.f); r.lens.resize(R); r.finish.resize(R);
    zs::SampleOutput out{r.tokens.data(), r.lp.data(), r.lens.data(), r.finish.data()};
    zs::model_sample(m, preq, out, &pf);
    CHECK(r.tokens == plain.tokens && same_bits(r.lp.data(), plain.lp.data(), r.lp.size()), "a profile changed the result");
    double phases = 0;
    for (double x : pf.phase) phases += x;
    CHECK(pf.setup > 0 && pf.prefill > 0 && pf.sampling > 0 && pf.decode > 0 && phases > 0, "profile not filled: %s",
          pf.describe().c_str());
    CHECK(phases <= pf.prefill + pf.decode + 1.0, "forward phases %.3f ms exceed prefill + decode: %s", phases, pf.describe().c_str());
    CHECK(pf.describe().rfind("sample: setup ", 0) == 0, "describe: %s", pf.describe().c_str());
  }
  std::printf("    plan ok; %s\n", prof[1].describe().c_str());
}

}  // namespace

void test_sample_pinned() { sample_pinned(); }
void test_sample_steps() { sample_steps(); }
void test_sample_vs_no_cache() { sample_vs_no_cache(); }

}  // namespace zst
