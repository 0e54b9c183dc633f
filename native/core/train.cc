#include "train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "logprob.h"

namespace zs {
namespace {

// KL estimators of q = ref - lp (clamped to [-20, 20]): value and d/dlp.
struct Kl { double v, d; };
Kl kl_k1(double q, bool in) { return {-q, in ? 1.0 : 0.0}; }
Kl kl_k2(double q, bool in) { return {0.5 * q * q, in ? -q : 0.0}; }
Kl kl_k3(double q, bool in) { double e = std::exp(q); return {e - q - 1.0, in ? 1.0 - e : 0.0}; }
Kl (*const kKl[])(double, bool) = {kl_k1, kl_k2, kl_k3};

// Token weight of each aggregation (normalisers of the whole batch).
double w_token_mean(const LossSpec& s, double) { return 1.0 / s.global_tokens; }
double w_seq_mean_token_mean(const LossSpec& s, double n) { return 1.0 / (s.global_seqs * n); }
double w_seq_mean_token_sum_norm(const LossSpec& s, double) { return 1.0 / (s.global_seqs * s.max_response_length); }
double (*const kAgg[])(const LossSpec&, double) = {w_token_mean, w_seq_mean_token_mean, w_seq_mean_token_sum_norm};

}  // namespace

LossStats loss_forward_backward(float* dlp, const float* lp, const float* ent, const TrainBatch& b, const Packed& p,
                                const LossSpec& s) {
  LossStats st;
  st.ratio_max = s.kind == LossKind::GRPO ? 0.0 : 1.0;
  std::memset(dlp, 0, sizeof(float) * p.N);
  for (int q = 0; q < p.B; q++) {
    double nseq = 0;
    for (int t = p.off[q] + 1; t < p.off[q + 1]; t++) nseq += b.mask[t] != 0.f;
    for (int t = p.off[q]; t < p.off[q + 1]; t++) {
      if (t == p.off[q] || b.mask[t] == 0.f) continue;
      double m = b.mask[t];
      st.tokens += 1;
      st.entropy_sum += ent[t];
      if (s.kind == LossKind::CE) {
        double w = m / s.global_tokens;
        st.pg_loss += -lp[t] * w;
        dlp[t] = (float)(-w);
        continue;
      }
      double w = m * kAgg[(int)s.agg](s, nseq), A = b.advantages[t];
      double ratio = std::exp((double)lp[t] - b.old_lp[t]);
      double lo = 1.0 - s.clip_low, hi = 1.0 + s.clip_high;
      double unclipped = -A * ratio, clipped = -A * std::min(std::max(ratio, lo), hi);
      double pg, dpg;
      if (clipped > unclipped) { pg = clipped; dpg = 0; st.clip_count += 1; }
      else { pg = unclipped; dpg = -A * ratio; }
      st.ratio_max = std::max(st.ratio_max, ratio);
      double kl = 0, dkl = 0;
      if (b.ref_lp) {
        double qv = (double)b.ref_lp[t] - lp[t];
        bool in = qv > -20.0 && qv < 20.0;
        Kl k = kKl[(int)s.kl](std::min(std::max(qv, -20.0), 20.0), in);
        kl = k.v; dkl = k.d;
      }
      st.kl_sum += kl;
      st.pg_loss += w * pg;
      st.kl_loss += w * kl;
      dlp[t] = (float)(w * (dpg + s.kl_coef * dkl));
    }
  }
  st.loss = st.pg_loss + s.kl_coef * st.kl_loss;
  return st;
}

void model_logits(Model& m, float* out, const int* tokens, const int* seq_lens, int B) {
  Packed p(seq_lens, B);
  model_forward(m, m.acts, tokens, p, false);
  model_head_forward(m, m.acts, out, 0, p.N);   // the caller asked for (N,V): written in place, no copy
}

// The LM head, log-softmax, the sampled tokens' log-probs and entropy run over chunks of logit rows
// (logit_chunk_rows): nothing of size (tokens x vocab) is ever allocated. Rows are independent and the
// head's gradient is one FMA chain over rows in order, so the results are those of the whole batch, bit for bit.
void model_logprobs(Model& m, float* out, const int* tokens, const int* seq_lens, int B, float T) {
  Packed p(seq_lens, B);
  model_forward(m, m.acts, tokens, p, false);
  const int V = m.cfg.vocab_size, rows = logit_chunk_rows(p.N, V);
  auto& chunk = m.ws.logit_rows;
  if (chunk.size() < (size_t)rows * V) chunk.resize((size_t)rows * V);
  for (int r0 = 0; r0 < p.N; r0 += rows) {
    const int n = std::min(rows, p.N - r0);
    model_head_forward(m, m.acts, chunk.data(), r0, n);
    logprob_forward_rows(out, nullptr, chunk.data(), tokens, p.start.data(), r0, n, p.N, V, T);
  }
}

LossStats model_accumulate(Model& m, const TrainBatch& b, const LossSpec& s) {
  Packed p(b.seq_lens, b.B);
  if (s.kind == LossKind::GRPO && (!b.advantages || !b.old_lp)) throw EngineError("GRPO loss needs advantages and oldLogprobs");
  if (s.kind == LossKind::GRPO && s.kl_coef > 0 && !b.ref_lp) throw EngineError("klCoef > 0 needs refLogprobs");
  Acts& a = m.acts;
  model_forward(m, a, b.tokens, p, false);
  const float T = s.kind == LossKind::GRPO ? s.temperature : 1.f;
  const int V = m.cfg.vocab_size, rows = logit_chunk_rows(p.N, V);
  auto &lp = m.ws.lp, &ent = m.ws.ent, &dlp = m.ws.dlp, &chunk = m.ws.logit_rows, &dchunk = m.ws.dlogits;
  if (lp.size() < (size_t)p.N) { lp.resize(p.N); ent.resize(p.N); dlp.resize(p.N); }
  if (chunk.size() < (size_t)rows * V) chunk.resize((size_t)rows * V);
  if (dchunk.size() < (size_t)rows * V) dchunk.resize((size_t)rows * V);
  for (int r0 = 0; r0 < p.N; r0 += rows) {
    const int n = std::min(rows, p.N - r0);
    model_head_forward(m, a, chunk.data(), r0, n);
    logprob_forward_rows(lp.data(), ent.data(), chunk.data(), b.tokens, p.start.data(), r0, n, p.N, V, T);
  }
  LossStats st = loss_forward_backward(dlp.data(), lp.data(), ent.data(), b, p, s);
  // backward: each chunk's logits are computed again (the same bits) and turned into its dlogits; when the
  // whole batch is one chunk, the forward's logits are still in the buffer
  const bool one_chunk = rows >= p.N;
  model_backward(m, a, [&](int r0, int n) {
    if (!one_chunk) model_head_forward(m, a, chunk.data(), r0, n);
    logprob_backward_rows(dchunk.data(), dlp.data(), chunk.data(), b.tokens, p.start.data(), r0, n, p.N, V, T);
    return (const float*)dchunk.data();
  }, rows, b.tokens, p);
  return st;
}

}  // namespace zs
