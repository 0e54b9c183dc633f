// safetensors I/O with Hugging Face Qwen2 tensor names (one file or the shards of a sharded checkpoint). Loading accepts F32, BF16 and F16:
// an fp32 model widens them (exact), a bf16 copy rounds what is not BF16 to nearest even. Saving writes
// canonical F32 or BF16 bytes (table order, fixed header), so the same weights always give the same bytes;
// BF16 from an fp32 model rounds to nearest even: the bytes a bf16 copy of it saves.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"

namespace zs {
void load_safetensors(Model& m, const uint8_t* data, size_t len);
void load_safetensors_file(Model& m, const std::string& path);  // mmap'd, never read whole
// A sharded checkpoint: each file holds some of the tensors; together every tensor exactly once.
void load_safetensors_files(Model& m, const std::vector<std::string>& paths);
std::vector<uint8_t> save_safetensors(const Model& m, bool bf16 = false);
// The same bytes written into a buffer of safetensors_size(m, bf16) (no second copy of a large model).
size_t safetensors_size(const Model& m, bool bf16 = false);
void save_safetensors_into(const Model& m, uint8_t* out, size_t size, bool bf16 = false);
}  // namespace zs
