// Softmax / log-prob kernels over logits rows. Token t is predicted by logits row t-1 of its
// sequence; start[t] = 1 marks sequence starts (no prediction: lp[t] = 0).
// Legend: N tokens, V vocabulary.
#pragma once
#include <cstdint>

namespace zs {
// log-sum-exp of z / T over V entries (max-shifted, fixed order).
float row_lse(const float* z, int V, float invT);

void logprob_forward(float* lp,             // (N) log softmax(logits[t-1]/T)[tokens[t]]
                     float* ent,            // (N) entropy of that distribution, or nullptr
                     const float* logits,   // (N,V)
                     const int* tokens,     // (N)
                     const uint8_t* start,  // (N)
                     int N, int V, float temperature);
// dlogits row t-1 = dlp[t] * (onehot(tokens[t]) - softmax(logits[t-1]/T)) / T; other rows zero.
void logprob_backward(float* dlogits,        // (N,V) written
                      const float* dlp,      // (N)
                      const float* logits,   // (N,V)
                      const int* tokens,     // (N)
                      const uint8_t* start,  // (N)
                      int N, int V, float temperature);
void logprob_forward_ref(float* lp, float* ent, const float* logits, const int* tokens, const uint8_t* start, int N,
                         int V, float temperature);
}  // namespace zs
