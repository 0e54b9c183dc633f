// Losses over a packed batch (next-token CE, GRPO policy loss with KL) and the calls built on the
// model: logits, log-probs, accumulate (forward + loss + backward into the gradients).
// Legend: B sequences, N tokens, V vocabulary.
#pragma once
#include "model.h"

namespace zs {

enum class LossKind { CE, GRPO };
enum class KlEstimator { K1 = 0, K2 = 1, K3 = 2 };
enum class Aggregation { TokenMean = 0, SeqMeanTokenMean = 1, SeqMeanTokenSumNorm = 2 };
// The importance correction of an off-policy step (DESIGN.md "Off-policy steps"). μ = old_lp (the sampler),
// π_prox = prox_lp (the step's starting weights), π_θ = lp. None: r = π_θ/μ, w = 1 (the on-policy objective).
// Decoupled: r = π_θ/π_prox, w = π_prox/μ, w = 0 above behav_weight_cap. Tis: w = min(π_prox/μ, tis_cap).
// Mis: w = 1, or 0 on every token of a sequence whose exp(mean log(π_prox/μ)) is outside [mis_low, mis_high].
enum class OffPolicy { None = 0, Decoupled = 1, Tis = 2, Mis = 3 };

struct LossSpec {
  LossKind kind = LossKind::CE;
  float clip_low = 0.2f, clip_high = 0.2f, kl_coef = 0.f, temperature = 1.f;
  KlEstimator kl = KlEstimator::K3;
  Aggregation agg = Aggregation::TokenMean;
  double global_tokens = 1, global_seqs = 1, max_response_length = 1;
  OffPolicy off_policy = OffPolicy::None;
  double behav_weight_cap = 5, tis_cap = 2, mis_low = 0.5, mis_high = 2;
  double entropy_coef = 0;  // loss -= entropy_coef * (entropy aggregated as the pg term)
};

// loss = pg_loss + kl_coef * kl_loss - entropy_coef * entropy_loss: this micro-batch's share of the batch
// objective. The rest are raw sums over the micro-batch's loss tokens: w_* of the importance weight w
// (w_truncated: tokens whose π_prox/μ exceeded the cap (decoupled) or C (tis); w_masked: tokens with w = 0),
// mismatch_k3_sum = Σ (ρ − 1 − log ρ) with ρ = π_prox/μ, mismatch_max_gap = max |μ − π_prox| (probabilities).
struct LossStats {
  double loss = 0, pg_loss = 0, kl_loss = 0, tokens = 0, kl_sum = 0, entropy_sum = 0, clip_count = 0, ratio_max = 0;
  double entropy_loss = 0, w_sum = 0, w_max = 0, w_truncated = 0, w_masked = 0, mismatch_k3_sum = 0, mismatch_max_gap = 0;
};

struct TrainBatch {
  const int* tokens; const int* seq_lens; int B;
  const float* mask;        // (N)
  const float* advantages;  // (N) GRPO
  const float* old_lp;      // (N) GRPO: μ, the sampler's log-probs
  const float* ref_lp;      // (N) needed when kl_coef > 0
  const float* prox_lp = nullptr;  // (N) π_prox, needed when off_policy != None (else the mismatch uses lp)
};

// Throws EngineError naming the field of a batch and spec that cannot go together.
void check_loss(const TrainBatch& b, const LossSpec& s);

// Per-token loss, dloss/dlp and dloss/dent from lp, ent and the batch (the weights of the aggregation
// included). dent is written only when s.entropy_coef != 0 (it may be nullptr otherwise).
LossStats loss_forward_backward(float* dlp, float* dent, const float* lp, const float* ent, const TrainBatch& b,
                                const Packed& p, const LossSpec& s);

void model_logits(Model& m, float* out, const int* tokens, const int* seq_lens, int B);             // (N,V)
void model_logprobs(Model& m, float* out, const int* tokens, const int* seq_lens, int B, float T);  // (N)
LossStats model_accumulate(Model& m, const TrainBatch& b, const LossSpec& s);

}  // namespace zs
