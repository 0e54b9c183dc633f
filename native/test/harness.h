// What the native test files share: the CHECK macro, deterministic inputs, error measures, the
// tiny model config. Each test is a void function that throws (through CHECK) on failure.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common.h"
#include "model.h"
#include "sampling.h"  // rng_uniform

namespace zst {

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      std::printf("    FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                            \
      std::printf("\n");                                   \
      throw std::runtime_error("check failed");            \
    }                                                      \
  } while (0)

inline std::vector<float> rand_vec(size_t n, uint64_t seed, float scale = 1.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = (float)((zs::rng_uniform(seed, i) * 2 - 1) * scale);
  return v;
}

// max |a-b| / (max |b| + tiny)
inline double rel_err(const float* a, const float* b, size_t n) {
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    md = std::fmax(md, std::fabs((double)a[i] - b[i]));
    mb = std::fmax(mb, std::fabs((double)b[i]));
  }
  return md / (mb + 1e-30);
}

inline bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

inline zs::Config tiny_config() {
  zs::Config c;
  c.vocab_size = 97; c.hidden_size = 64; c.num_hidden_layers = 2; c.num_attention_heads = 4;
  c.num_key_value_heads = 2; c.head_dim = 16; c.intermediate_size = 96; c.max_position_embeddings = 128;
  c.rope_theta = 10000.f;
  return c;
}

// matmul_tests.cc: the GEMM under every kernel set against its _ref twins and the sets against each other.
void test_matmul();
void test_matmul_packed_once();
void test_matmul_wide_rows();
void test_round_bf16();
void test_matmul_bf16();
void test_kernel_sets_agree();

// sample_tests.cc: model_sample's pinned bits, its steps, and agreement with a plain sampler.
void test_sample_pinned();
void test_sample_steps();
void test_sample_vs_no_cache();

// loss_tests.cc: the GRPO loss's off-policy corrections and entropy term against values worked by hand.
void test_loss_off_policy();
void test_entropy_backward();

}  // namespace zst
