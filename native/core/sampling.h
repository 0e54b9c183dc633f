// Token sampling from one logits row with a counter-based RNG: the draw for (seed, step) is a pure
// function of both, so a row's sample never depends on its batch neighbours or the thread count.
// Legend: V vocabulary.
#pragma once
#include <cstdint>

namespace zs {

struct SampleSettings { float temperature, top_p; int top_k; };

// Uniform double in [0,1) from a splitmix64 hash of (seed, counter).
double rng_uniform(uint64_t seed, uint64_t counter);
// Standard normal from (seed, counter) by Box-Muller (used for deterministic init).
double rng_normal(uint64_t seed, uint64_t counter);

// Returns the sampled token; *logprob = log softmax(z/T)[token] over the full vocabulary
// (temperature 0: greedy argmax, log-prob at T = 1).
int sample_row(float* logprob,
               int* idx_scratch,      // (V)
               float* prob_scratch,   // (V)
               const float* z,        // (V)
               int V, SampleSettings s, double u);
// The plain twin, written from the contract alone (see sampling.cc). *margin (when given): how far
// in probability mass the decisions were from flipping (the draw from the nearest cumulative edge,
// the top-p cut from its target mass). sample_row computes probabilities in float, so the two may
// pick different tokens only where margin is within that rounding (~1e-6).
int sample_row_ref(float* logprob, const float* z, int V, SampleSettings s, double u, double* margin = nullptr);
}  // namespace zs
