// Native tests without Node: the thread-pool stress, each optimised kernel against its _ref twin,
// and whole-model calls that must give the same bits with 1 or 2 threads and with several callers
// at once (the sampler's tests: sample_tests.cc; the loss's: loss_tests.cc; shared helpers:
// harness.h). Built plainly and with ThreadSanitizer by scripts/native-tests.mjs (npm run test:tsan).
// Usage: zs_native_tests [--seconds S] [--callers K] [--filter NAME]; exit 0 when every test passes.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "attention.h"
#include "common.h"
#include "logprob.h"
#include "matmul.h"
#include "model.h"
#include "pool_stress.h"
#include "rmsnorm.h"
#include "sampling.h"
#include "swiglu.h"
#include "threadpool.h"
#include "train.h"
#include "generate.h"
#include "harness.h"

namespace {

using namespace zst;

double g_seconds = 3;
int g_callers = 3;
int g_failed = 0;


// ---- the pool -----------------------------------------------------------------------------------

void test_pool_stress() {
  for (int threads : {2, 3}) {
    zs::set_threads(threads);
    std::vector<zs::PoolStressResult> res(g_callers);
    std::vector<std::thread> callers;
    for (int c = 0; c < g_callers; c++)
      callers.emplace_back([&, c] { res[c] = zs::pool_stress(1000 + c, (int)(g_seconds * 1000 / 2), ~0ull, 7); });
    for (auto& t : callers) t.join();
    zs::PoolStressResult total;
    for (auto& r : res) {
      total.calls += r.calls; total.items += r.items; total.missing += r.missing; total.duplicate += r.duplicate;
      total.out_of_range += r.out_of_range; total.late += r.late; total.bad_tid += r.bad_tid;
    }
    std::printf("    %d pool threads, %d callers: %s\n", threads, g_callers, total.describe().c_str());
    CHECK(total.ok(), "the pool ran an item twice, never, out of range or late");
    CHECK(total.calls > 0, "no call completed");
  }
  zs::set_threads(2);
}

// Nested use from kernels: parallel_for called by several threads while set_threads changes.
void test_pool_resize_under_load() {
  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  std::vector<zs::PoolStressResult> res(2);
  for (int c = 0; c < 2; c++)
    callers.emplace_back([&, c] {
      while (!stop.load()) {
        auto r = zs::pool_stress(77 + c, 50, 2000, 9);
        res[c].calls += r.calls; res[c].missing += r.missing; res[c].duplicate += r.duplicate;
        res[c].out_of_range += r.out_of_range; res[c].late += r.late; res[c].bad_tid += r.bad_tid;
      }
    });
  for (int i = 0; i < 40; i++) {
    zs::set_threads(1 + i % 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : callers) t.join();
  zs::set_threads(2);
  for (auto& r : res) CHECK(r.ok(), "resize under load: %s", r.describe().c_str());
  std::printf("    %llu + %llu calls while the thread count changed 40 times\n", (unsigned long long)res[0].calls,
              (unsigned long long)res[1].calls);
}

// ---- kernels against their _ref twins -----------------------------------------------------------

void test_rmsnorm_swiglu() {
  const int N = 5, C = 37, F = 19;
  auto x = rand_vec(N * C, 9), w = rand_vec(C, 10), dout = rand_vec(N * C, 11);
  std::vector<float> o1(N * C), o2(N * C), s1(N), s2(N);
  zs::rmsnorm_forward(o1.data(), s1.data(), x.data(), w.data(), N, C, 1e-6f);
  zs::rmsnorm_forward_ref(o2.data(), s2.data(), x.data(), w.data(), N, C, 1e-6f);
  CHECK(rel_err(o1.data(), o2.data(), o1.size()) < 1e-6, "rmsnorm forward");
  std::vector<float> d1(N * C), dw1(C), d2(N * C), dw2(C);
  zs::rmsnorm_backward(d1.data(), dw1.data(), dout.data(), x.data(), s1.data(), w.data(), N, C);
  zs::rmsnorm_backward_ref(d2.data(), dw2.data(), dout.data(), x.data(), s1.data(), w.data(), N, C);
  CHECK(rel_err(d1.data(), d2.data(), d1.size()) < 1e-5 && rel_err(dw1.data(), dw2.data(), C) < 1e-5, "rmsnorm backward");
  auto gu = rand_vec(N * 2 * F, 12), go = rand_vec(N * F, 13);
  std::vector<float> so1(N * F), so2(N * F), g1(N * 2 * F), g2(N * 2 * F);
  zs::swiglu_forward(so1.data(), gu.data(), N, F);
  zs::swiglu_forward_ref(so2.data(), gu.data(), N, F);
  CHECK(rel_err(so1.data(), so2.data(), so1.size()) < 1e-6, "swiglu forward");
  zs::swiglu_backward(g1.data(), go.data(), gu.data(), N, F);
  zs::swiglu_backward_ref(g2.data(), go.data(), gu.data(), N, F);
  CHECK(rel_err(g1.data(), g2.data(), g1.size()) < 1e-5, "swiglu backward");
}

void test_attention_logprob() {
  zs::AttnDims d{4, 2, 16};
  const int qkvw = (d.H + 2 * d.KVH) * d.D;
  std::vector<int> off = {0, 5, 5 + 37, 5 + 37 + 9};
  const int B = 3, N = off[B], Tmax = 37;
  auto qkv = rand_vec((size_t)N * qkvw, 20);
  std::vector<float> out((size_t)N * d.H * d.D), ref((size_t)N * d.H * d.D), lse((size_t)N * d.H);
  const int slices = zs::get_threads();
  std::vector<float> scratch(zs::attention_scratch_floats(Tmax, d.D) * slices);
  zs::attention_forward(out.data(), lse.data(), scratch.data(), qkv.data(), off.data(), B, Tmax, d, slices);
  zs::attention_forward_ref(ref.data(), qkv.data(), off.data(), B, d);
  double e = rel_err(out.data(), ref.data(), out.size());
  CHECK(e < 1e-5, "attention forward rel %g", e);
  const int V = 301;
  auto logits = rand_vec((size_t)N * V, 21, 4.f);
  std::vector<int> tok(N);
  std::vector<uint8_t> start(N, 0);
  for (int i = 0; i < N; i++) tok[i] = (int)(zs::rng_uniform(22, i) * V);
  for (int b = 0; b < B; b++) start[off[b]] = 1;
  std::vector<float> lp1(N), lp2(N), en1(N), en2(N);
  zs::logprob_forward(lp1.data(), en1.data(), logits.data(), tok.data(), start.data(), N, V, 0.7f);
  zs::logprob_forward_ref(lp2.data(), en2.data(), logits.data(), tok.data(), start.data(), N, V, 0.7f);
  CHECK(rel_err(lp1.data(), lp2.data(), N) < 1e-5 && rel_err(en1.data(), en2.data(), N) < 1e-5, "logprob forward");
  std::printf("    attention (B=3, N=%d): rel %.2e\n", N, e);
}

// sample_row against its plain twin on many rows: continuous logits, logits on a coarse grid (many
// exact ties), a peaked row; every temperature/top-k/top-p edge. The tokens must agree unless the
// twin's draw or top-p cut sat within float rounding of an edge (margin < 1e-6): by design for the
// draw u = 1 - 1e-12, and at most 1 in 1000 random draws.
void test_sampling() {
  int rows = 0, ambiguous = 0;
  double worst_lp = 0;
  // V = 20011: top-p alone sorts only the candidates of its prefix there (sampling.cc), flat and peaked rows
  for (int V : {5, 64, 513, 20011}) {
    const bool big = V > 1000;
    for (int kind = 0; kind < 3; kind++) {
      std::vector<float> z = rand_vec(V, 30 + V + kind, 5.f);
      if (kind == 1) for (float& x : z) x = std::round(x * 2) / 2;  // ties
      if (kind == 2) z[V / 3] += 12.f;                              // one token holds nearly all mass
      std::vector<int> idx(V);
      std::vector<float> prob(V);
      for (float T : {0.f, 0.3f, 1.f, 1.7f})
        for (int top_k : {-1, 0, 1, 2, 7, V - 1, V, V + 5})
          for (float top_p : {1.f, 0.999f, 0.9f, 0.5f, 0.1f, 1e-6f})
            for (int k = 0; k < 12; k++) {
              if (big && (T == 0.f || T == 1.7f || (top_k != 0 && top_k != 7) || top_p == 1e-6f || k > 5)) continue;
              zs::SampleSettings s{T, top_p, top_k};
              double u = k == 0 ? 0.0 : k == 1 ? 1.0 - 1e-12 : zs::rng_uniform(31 + V, rows * 16 + k);
              float lp1 = 0, lp2 = 0;
              double margin;
              int t1 = zs::sample_row(&lp1, idx.data(), prob.data(), z.data(), V, s, u);
              int t2 = zs::sample_row_ref(&lp2, z.data(), V, s, u, &margin);
              rows++;
              if (t1 != t2) {
                CHECK(margin < 1e-6, "V=%d kind %d T=%g top_p=%g top_k=%d u=%.17g: token %d, ref %d (margin %g)", V, kind, T,
                      top_p, top_k, u, t1, t2, margin);
                if (k > 1) ambiguous++;  // u = 1 - 1e-12 lands within rounding of the last edge by design
                continue;
              }
              worst_lp = std::fmax(worst_lp, std::fabs(lp1 - lp2) / std::fmax(1.0, std::fabs(lp2)));
              CHECK(std::fabs(lp1 - lp2) <= 1e-5 * std::fmax(1.0, std::fabs(lp2)), "V=%d T=%g: log-prob %.9g, ref %.9g", V, T, lp1, lp2);
            }
    }
  }
  std::printf("    %d draws: tokens equal in all but %d random draws within rounding of an edge; log-prob worst rel %.2e\n",
              rows, ambiguous, worst_lp);
  CHECK(ambiguous * 1000 <= rows, "%d of %d draws disagreed within rounding of an edge", ambiguous, rows);
}

// ---- whole model: thread-count invariance and concurrent callers ------------------------------


struct ModelRun {
  std::vector<float> logits, grads, sampled_lp;
  std::vector<int> sampled;
  double loss = 0;
};

// One model's worth of calls: logits, a GRPO accumulate, a sampling call; pure function of seed and compute.
ModelRun run_model(uint64_t seed, zs::Compute cmp = zs::Compute::f32) {
  zs::Model m(tiny_config());
  m.compute = cmp;
  m.init_random(seed, 0.05f);
  std::vector<int> lens = {9, 23, 4, 31};
  int N = 0;
  for (int l : lens) N += l;
  std::vector<int> tok(N);
  for (int i = 0; i < N; i++) tok[i] = (int)(zs::rng_uniform(seed + 1, i) * 97);
  ModelRun r;
  r.logits.resize((size_t)N * 97);
  zs::model_logits(m, r.logits.data(), tok.data(), lens.data(), (int)lens.size());
  std::vector<float> mask(N, 1.f), adv(N), old_lp(N), ref_lp(N);
  zs::model_logprobs(m, old_lp.data(), tok.data(), lens.data(), (int)lens.size(), 1.f);
  for (int i = 0; i < N; i++) { adv[i] = (float)(zs::rng_uniform(seed + 2, i) - 0.5); ref_lp[i] = old_lp[i] - 0.01f; }
  zs::TrainBatch b{tok.data(), lens.data(), (int)lens.size(), mask.data(), adv.data(), old_lp.data(), ref_lp.data()};
  zs::LossSpec s;
  s.kind = zs::LossKind::GRPO; s.kl_coef = 0.01f; s.global_tokens = N; s.global_seqs = (double)lens.size();
  std::fill(m.grads.begin(), m.grads.end(), 0.f);
  r.loss = zs::model_accumulate(m, b, s).loss;
  r.grads = m.grads;
  const int R = 3, max_new = 12;
  std::vector<int> prompts = {1, 2, 3, 4, 5, 6, 7, 8, 9}, plens = {3, 3, 3};
  std::vector<uint64_t> seeds = {seed, seed + 1, seed + 2};
  std::vector<int> stop = {0};
  zs::SampleRequest req{prompts.data(), plens.data(), R, seeds.data(), {1.f, 1.f, -1}, max_new, stop.data(), 1};
  r.sampled.resize(R * max_new);
  r.sampled_lp.resize(R * max_new);
  std::vector<int> olens(R), fin(R);
  zs::SampleOutput out{r.sampled.data(), r.sampled_lp.data(), olens.data(), fin.data()};
  zs::model_sample(m, req, out);
  return r;
}

bool same_run(const ModelRun& a, const ModelRun& b) {
  return a.loss == b.loss && same_bits(a.logits.data(), b.logits.data(), a.logits.size()) &&
         same_bits(a.grads.data(), b.grads.data(), a.grads.size()) && a.sampled == b.sampled &&
         same_bits(a.sampled_lp.data(), b.sampled_lp.data(), a.sampled_lp.size());
}

void test_model_threads_and_callers() {
  // the other model computes in bf16 (model.compute_dtype): the same guarantees, and callers of both at once
  const auto B16 = zs::Compute::bf16;
  zs::set_threads(1);
  ModelRun one = run_model(5), other = run_model(6, B16);
  zs::set_threads(2);
  ModelRun two = run_model(5);
  CHECK(same_run(one, two), "1 and 2 threads gave different bits");
  CHECK(same_run(other, run_model(6, B16)), "compute bf16: 1 and 2 threads gave different bits");
  CHECK(!same_run(run_model(6), other), "compute bf16 gave the fp32 bits: nothing was rounded");
  zs::set_threads(3);
  CHECK(same_run(one, run_model(5)), "1 and 3 threads gave different bits");
  CHECK(same_run(other, run_model(6, B16)), "compute bf16: 1 and 3 threads gave different bits");
  zs::set_threads(2);
  // several callers at once, each with its own model (as generators and the updater's AsyncWorkers)
  const int reps = std::max(2, (int)(g_seconds * 2));
  std::atomic<int> bad{0};
  std::atomic<bool> done{false};
  // the thread count changes under the callers' feet: per-thread scratch must still fit
  std::thread flipper([&] {
    for (int i = 0; !done.load(); i++) {
      zs::set_threads(1 + i % 3);
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::vector<std::thread> ts;
  for (int c = 0; c < g_callers; c++)
    ts.emplace_back([&, c] {
      for (int k = 0; k < reps; k++) {
        bool even = (c + k) % 2 == 0;
        if (!same_run(even ? run_model(5) : run_model(6, B16), even ? one : other)) bad++;
      }
    });
  for (auto& t : ts) t.join();
  done = true;
  flipper.join();
  zs::set_threads(2);
  CHECK(bad == 0, "%d of %d concurrent model runs differed from the sequential ones", bad.load(), g_callers * reps);
  std::printf("    bit-identical (compute f32 and bf16) with 1, 2, 3 threads and %d concurrent callers x %d runs while the thread count changed (loss %.9g)\n", g_callers,
              reps, one.loss);
}


struct Test { const char* name; void (*fn)(); };
const Test kTests[] = {
    {"pool_stress", test_pool_stress},
    {"pool_resize_under_load", test_pool_resize_under_load},
    {"matmul", test_matmul},
    {"matmul_packed_once", test_matmul_packed_once},
    {"matmul_wide_rows", test_matmul_wide_rows},
    {"round_bf16", test_round_bf16},
    {"matmul_bf16", test_matmul_bf16},
    {"kernel_sets_agree", test_kernel_sets_agree},
    {"rmsnorm_swiglu", test_rmsnorm_swiglu},
    {"attention_logprob", test_attention_logprob},
    {"sampling", test_sampling},
    {"model_threads_and_callers", test_model_threads_and_callers},
    {"sample_pinned", test_sample_pinned},
    {"sample_steps", test_sample_steps},
    {"sample_vs_no_cache", test_sample_vs_no_cache},
    {"loss_off_policy", test_loss_off_policy},
    {"entropy_backward", test_entropy_backward},
};

}  // namespace

int main(int argc, char** argv) {
  std::string filter;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) g_seconds = std::atof(argv[++i]);
    else if (a == "--callers" && i + 1 < argc) g_callers = std::atoi(argv[++i]);
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  // A hang is a failure with a message, not a stuck CI job.
  double budget = 120 + 20 * g_seconds;
  std::thread([budget] {
    std::this_thread::sleep_for(std::chrono::duration<double>(budget));
    std::printf("HANG: the native tests did not finish in %.0f s (a parallel_for that never returns?)\n", budget);
    std::fflush(stdout);
    std::_Exit(3);
  }).detach();
  zs::set_threads(2);
  int ran = 0;
  for (const Test& t : kTests) {
    if (!filter.empty() && std::string(t.name).find(filter) == std::string::npos) continue;
    ran++;
    auto t0 = std::chrono::steady_clock::now();
    std::printf("  %s\n", t.name);
    std::fflush(stdout);
    try {
      t.fn();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("ok %s (%.0f ms)\n", t.name, ms);
    } catch (const std::exception& e) {
      g_failed++;
      std::printf("not ok %s: %s\n", t.name, e.what());
    }
    std::fflush(stdout);
  }
  std::printf("native tests: %d ok, %d not ok\n", ran - g_failed, g_failed);
  return g_failed ? 1 : 0;
}
