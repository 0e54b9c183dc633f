// loss_forward_backward on a case small enough to work by hand: 2 sequences (3 and 4 tokens, 5 loss
// tokens), each off-policy correction's loss, every dloss/dlp and its weight statistics against values
// written out below from DESIGN.md's formulas (not from the code under test); and the entropy's
// gradient through the logits (logprob_backward_rows' dent path) against finite differences.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"
#include "logprob.h"
#include "train.h"

namespace zst {
namespace {

// Per loss token: r = π_θ/π_prox, ρ = π_prox/μ, the advantage and log μ. The batch's log-probs are built
// from them, so every ratio the loss sees is one of these numbers (to float rounding).
//   token:          t=1    t=2    t=4    t=5    t=6      (t=0 and t=3 start their sequences)
const double kR[] = {1.1, 1.5, 0.9, 0.7, 1.2};
const double kRho[] = {1.5, 0.8, 6.0, 2.5, 1.0};
const double kA[] = {1.0, 1.0, -1.0, -0.5, 2.0};
const double kLogMu[] = {-1.0, -2.0, -2.5, -1.5, -3.0};
const double kEnt[] = {1.0, 2.0, 0.5, 1.5, 0.25};
const int kAt[] = {1, 2, 4, 5, 6};
const double kKlQ = std::log(0.9);       // ref − lp on every token: k3 = 0.9 − 1 − log 0.9, d/dlp = 1 − 0.9
const double kKlCoef = 0.1, kAgg = 0.2;  // token-mean over 5 tokens

struct Case {
  std::vector<int> lens{3, 4}, tokens{0, 1, 2, 0, 3, 4, 5};
  std::vector<float> mask, adv, old_lp, prox_lp, lp, ref_lp, ent;
  Case() : mask(7, 0.f), adv(7, 0.f), old_lp(7, 0.f), prox_lp(7, 0.f), lp(7, 0.f), ref_lp(7, 0.f), ent(7, 0.f) {
    for (int i = 0; i < 5; i++) {
      const int t = kAt[i];
      mask[t] = 1.f; adv[t] = (float)kA[i]; ent[t] = (float)kEnt[i];
      old_lp[t] = (float)kLogMu[i];
      prox_lp[t] = (float)(kLogMu[i] + std::log(kRho[i]));
      lp[t] = (float)(kLogMu[i] + std::log(kRho[i]) + std::log(kR[i]));
      ref_lp[t] = (float)(lp[t] + kKlQ);
    }
  }
};

// What each token should give, by hand: the importance weight, the policy term −w·min(r·Â, clip(r)·Â) with
// ε_low 0.2, ε_high 0.28 (clip range [0.8, 1.28]) and its d/dlp (0 on the clipped branch).
struct Expect { double w[5], pg[5], dpg[5]; double w_sum, w_max, truncated, masked, clipped, ratio_max; };

// none: r = π_θ/μ = r·ρ = 1.65, 1.2, 5.4, 1.75, 1.2.
//   t1: Â>0, 1.65 > 1.28 clipped: −1.28.  t2: −1.2.  t4: Â<0: max(5.4, 1.28) = 5.4 unclipped.
//   t5: max(0.875, 0.64) = 0.875 unclipped.  t6: −2.4.
const Expect kNone = {{1, 1, 1, 1, 1}, {-1.28, -1.2, 5.4, 0.875, -2.4}, {0, -1.2, 5.4, 0.875, -2.4},
                      5, 1, 0, 0, 1, 5.4};
// decoupled (cap 5): w = ρ, except t4 (ρ = 6 > 5) masked. r = 1.1, 1.5, 0.9, 0.7, 1.2.
//   t1: 1.5·(−1.1).  t2: clipped, 0.8·(−1.28).  t4: 0.  t5: Â<0, r < 0.8: max(0.35, 0.4) = 0.4 clipped, 2.5·0.4.
//   t6: −2.4.
const Expect kDecoupled = {{1.5, 0.8, 0, 2.5, 1}, {-1.65, -1.024, 0, 1.0, -2.4}, {-1.65, 0, 0, 0, -2.4},
                           5.8, 2.5, 1, 1, 2, 1.5};
// tis (C = 2): w = min(ρ, 2) = 1.5, 0.8, 2 (truncated), 2 (truncated), 1.  t4: 2·0.9 unclipped.
const Expect kTis = {{1.5, 0.8, 2, 2, 1}, {-1.65, -1.024, 1.8, 0.8, -2.4}, {-1.65, 0, 1.8, 0, -2.4},
                     7.3, 2, 2, 0, 2, 1.5};
// mis ([0.5, 2]): sequence 0's geometric mean sqrt(1.5·0.8) = 1.095 is inside; sequence 1's
// (6·2.5·1)^(1/3) = 2.466 is outside: its three tokens get w = 0.
const Expect kMis = {{1, 1, 0, 0, 0}, {-1.1, -1.28, 0, 0, 0}, {-1.1, 0, 0, 0, 0}, 2, 1, 0, 3, 2, 1.5};

bool near(double a, double b, double tol = 2e-6) { return std::fabs(a - b) <= tol * std::fmax(1.0, std::fabs(b)); }

void check_case(const char* name, zs::OffPolicy op, double entropy_coef, const Expect& e) {
  Case c;
  zs::TrainBatch b{c.tokens.data(), c.lens.data(), 2, c.mask.data(), c.adv.data(), c.old_lp.data(), c.ref_lp.data(),
                   op == zs::OffPolicy::None ? nullptr : c.prox_lp.data()};
  zs::LossSpec s;
  s.kind = zs::LossKind::GRPO; s.clip_low = 0.2f; s.clip_high = 0.28f; s.kl_coef = (float)kKlCoef;
  s.global_tokens = 5; s.global_seqs = 2; s.off_policy = op; s.entropy_coef = entropy_coef;
  zs::check_loss(b, s);
  zs::Packed p(c.lens.data(), 2);
  std::vector<float> dlp(7, -9.f), dent(7, -9.f);
  zs::LossStats st = zs::loss_forward_backward(dlp.data(), dent.data(), c.lp.data(), c.ent.data(), b, p, s);

  const double kl = 0.9 - 1.0 - kKlQ, dkl = 1.0 - 0.9;
  double pg = 0, ent = 0;
  for (int i = 0; i < 5; i++) { pg += kAgg * e.pg[i]; ent += kAgg * kEnt[i]; }
  const double loss = pg + kKlCoef * kAgg * 5 * kl - entropy_coef * ent;
  CHECK(near(st.pg_loss, pg), "%s pg_loss %.9g vs %.9g", name, st.pg_loss, pg);
  CHECK(near(st.loss, loss), "%s loss %.9g vs %.9g", name, st.loss, loss);
  CHECK(near(st.kl_loss, kAgg * 5 * kl), "%s kl_loss %.9g", name, st.kl_loss);
  for (int i = 0; i < 5; i++) {
    // the KL term is not weighted by w (AReaL weights only the policy term)
    const double want = kAgg * (e.dpg[i] + kKlCoef * dkl);
    CHECK(near(dlp[kAt[i]], want), "%s dlp[%d] %.9g vs %.9g", name, kAt[i], dlp[kAt[i]], want);
    if (entropy_coef != 0) CHECK(near(dent[kAt[i]], -entropy_coef * kAgg), "%s dent[%d] %.9g", name, kAt[i], dent[kAt[i]]);
  }
  for (int t : {0, 3}) CHECK(dlp[t] == 0.f, "%s dlp[%d] of a sequence start is %g", name, t, dlp[t]);
  CHECK(near(st.w_sum, e.w_sum) && near(st.w_max, e.w_max), "%s w_sum %.9g w_max %.9g", name, st.w_sum, st.w_max);
  CHECK(st.w_truncated == e.truncated && st.w_masked == e.masked && st.clip_count == e.clipped,
        "%s truncated %g masked %g clipped %g", name, st.w_truncated, st.w_masked, st.clip_count);
  CHECK(near(st.ratio_max, e.ratio_max), "%s ratio_max %.9g vs %.9g", name, st.ratio_max, e.ratio_max);
  CHECK(st.tokens == 5, "%s tokens %g", name, st.tokens);
  if (op != zs::OffPolicy::None) {
    // ρ = 1.5, 0.8, 6, 2.5, 1: Σ ρ − 1 − log ρ; the largest |μ − π_prox| = μ|1 − ρ| is t4's 5·e^−2.5
    double k3 = 0;
    for (double r : kRho) k3 += r - 1 - std::log(r);
    CHECK(near(st.mismatch_k3_sum, k3, 1e-5), "%s mismatch k3 %.9g vs %.9g", name, st.mismatch_k3_sum, k3);
    CHECK(near(st.mismatch_max_gap, 5 * std::exp(-2.5), 1e-5), "%s max gap %.9g", name, st.mismatch_max_gap);
  } else {
    // without π_prox the mismatch is measured against lp itself: ρ = π_θ/μ = r·ρ
    double k3 = 0;
    for (int i = 0; i < 5; i++) k3 += kR[i] * kRho[i] - 1 - std::log(kR[i] * kRho[i]);
    CHECK(near(st.mismatch_k3_sum, k3, 1e-5), "%s mismatch k3 against lp %.9g vs %.9g", name, st.mismatch_k3_sum, k3);
  }
  std::printf("    %-9s loss %.6f  w_sum %.2f  truncated %g  masked %g  clipped %g\n", name, st.loss, st.w_sum,
              st.w_truncated, st.w_masked, st.clip_count);
}

std::string refused(const zs::TrainBatch& b, const zs::LossSpec& s) {
  try { zs::check_loss(b, s); } catch (const zs::EngineError& e) { return e.what(); }
  return "";
}

}  // namespace

void test_loss_off_policy() {
  check_case("none", zs::OffPolicy::None, 0, kNone);
  check_case("none+ent", zs::OffPolicy::None, 0.01, kNone);
  check_case("decoupled", zs::OffPolicy::Decoupled, 0, kDecoupled);
  check_case("tis", zs::OffPolicy::Tis, 0, kTis);
  check_case("mis", zs::OffPolicy::Mis, 0.05, kMis);

  Case c;
  zs::TrainBatch b{c.tokens.data(), c.lens.data(), 2, c.mask.data(), c.adv.data(), c.old_lp.data(), nullptr, nullptr};
  zs::LossSpec s;
  s.kind = zs::LossKind::GRPO; s.off_policy = zs::OffPolicy::Tis;
  CHECK(refused(b, s).find("proxLogprobs") != std::string::npos, "tis without proxLogprobs: '%s'", refused(b, s).c_str());
  b.prox_lp = c.prox_lp.data();
  s.tis_cap = 0;
  CHECK(refused(b, s).find("tisCap") != std::string::npos, "tisCap 0: '%s'", refused(b, s).c_str());
  s.tis_cap = 2; s.mis_low = 2; s.mis_high = 2;
  CHECK(refused(b, s).find("misLow") != std::string::npos, "misLow = misHigh: '%s'", refused(b, s).c_str());
}

// The entropy's gradient through one logits row: dent · dH/dz from logprob_backward_rows (dlp = 0 so only
// the entropy part is there, then dlp ≠ 0 to see the two add) against central differences of H and lp.
void test_entropy_backward() {
  const int V = 7, N = 2;
  const float T = 0.7f;
  const int tokens[N] = {0, 3};
  const uint8_t start[N] = {1, 0};
  std::vector<float> z = rand_vec(V, 42, 2.f);
  auto H_and_lp = [&](const std::vector<float>& zz, double* H) {
    double mx = -1e300, s = 0;
    for (int j = 0; j < V; j++) mx = std::fmax(mx, zz[j] / (double)T);
    for (int j = 0; j < V; j++) s += std::exp(zz[j] / (double)T - mx);
    const double lse = mx + std::log(s);
    *H = 0;
    for (int j = 0; j < V; j++) { double l = zz[j] / (double)T - lse; *H -= std::exp(l) * l; }
    return zz[tokens[1]] / (double)T - lse;
  };
  for (float dlp1 : {0.f, 0.6f}) {
    const float dent1 = -1.3f;
    const float dlp[N] = {0.f, dlp1}, dent[N] = {0.f, dent1};
    std::vector<float> d(V);
    zs::logprob_backward_rows(d.data(), dlp, dent, z.data(), tokens, start, 0, 1, N, V, T);
    double worst = 0;
    for (int j = 0; j < V; j++) {
      std::vector<float> zp = z, zm = z;
      const double eps = 1e-3;
      zp[j] += (float)eps; zm[j] -= (float)eps;
      double Hp, Hm;
      const double lpp = H_and_lp(zp, &Hp), lpm = H_and_lp(zm, &Hm);
      const double h = ((double)zp[j] - zm[j]);
      const double want = dent1 * (Hp - Hm) / h + dlp1 * (lpp - lpm) / h;
      worst = std::fmax(worst, std::fabs(d[j] - want));
    }
    CHECK(worst < 1e-5, "entropy backward (dlp %g): max |analytic − finite difference| = %.3g", dlp1, worst);
    std::printf("    dlp %.1f, dent %.1f: max |analytic − fd| over %d logits = %.2e\n", dlp1, dent1, V, worst);
  }
}

}  // namespace zst
