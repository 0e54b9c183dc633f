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
// The same over a chunk of logits rows [r0, r0+n) of the batch (rows: n x V): row r predicts token r+1,
// written at lp[r+1] / ent[r+1] (r0 == 0 also writes token 0's zeros). Bit-identical to the whole batch.
void logprob_forward_rows(float* lp, float* ent, const float* rows, const int* tokens, const uint8_t* start, int r0,
                          int n, int N, int V, float temperature);
// dlogits of the rows [r0, r0+n) (drows: n x V, written), as logprob_backward's rows, plus, when dent is not
// nullptr, dent[t] * dH/dlogits of the entropy H of row t-1: -dent[t] * p_j (log p_j + H) / T.
void logprob_backward_rows(float* drows,       // (n,V) written
                           const float* dlp,   // (N) dloss/dlp
                           const float* dent,  // (N) dloss/dent, or nullptr (no entropy term)
                           const float* rows,  // (n,V) logits rows r0..r0+n-1
                           const int* tokens, const uint8_t* start, int r0, int n, int N, int V, float temperature);
void logprob_forward_ref(float* lp, float* ent, const float* logits, const int* tokens, const uint8_t* start, int N,
                         int V, float temperature);
}  // namespace zs
