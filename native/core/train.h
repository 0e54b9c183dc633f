// Losses over a packed batch (next-token CE, GRPO policy loss with KL) and the calls built on the
// model: logits, log-probs, accumulate (forward + loss + backward into the gradients).
// Legend: B sequences, N tokens, V vocabulary.
#pragma once
#include "model.h"

namespace zs {

enum class LossKind { CE, GRPO };
enum class KlEstimator { K1 = 0, K2 = 1, K3 = 2 };
enum class Aggregation { TokenMean = 0, SeqMeanTokenMean = 1, SeqMeanTokenSumNorm = 2 };

struct LossSpec {
  LossKind kind = LossKind::CE;
  float clip_low = 0.2f, clip_high = 0.2f, kl_coef = 0.f, temperature = 1.f;
  KlEstimator kl = KlEstimator::K3;
  Aggregation agg = Aggregation::TokenMean;
  double global_tokens = 1, global_seqs = 1, max_response_length = 1;
};

// loss = pg_loss + kl_coef * kl_loss: this micro-batch's share of the batch objective.
struct LossStats { double loss = 0, pg_loss = 0, kl_loss = 0, tokens = 0, kl_sum = 0, entropy_sum = 0, clip_count = 0, ratio_max = 0; };

struct TrainBatch {
  const int* tokens; const int* seq_lens; int B;
  const float* mask;        // (N)
  const float* advantages;  // (N) GRPO
  const float* old_lp;      // (N) GRPO
  const float* ref_lp;      // (N) needed when kl_coef > 0
};

// Per-token loss and dloss/dlp from lp and the batch (the weights of the aggregation included).
LossStats loss_forward_backward(float* dlp, const float* lp, const float* ent, const TrainBatch& b, const Packed& p,
                                const LossSpec& s);

void model_logits(Model& m, float* out, const int* tokens, const int* seq_lens, int B);             // (N,V)
void model_logprobs(Model& m, float* out, const int* tokens, const int* seq_lens, int B, float T);  // (N)
LossStats model_accumulate(Model& m, const TrainBatch& b, const LossSpec& s);

}  // namespace zs
