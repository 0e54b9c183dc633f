// safetensors I/O with Hugging Face Qwen2 tensor names (one file or the shards of a sharded checkpoint). Loading accepts F32, BF16 and F16 and
// converts to the fp32 master weights; saving writes canonical fp32 bytes (table order, fixed
// header), so the same weights always give the same bytes.
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
std::vector<uint8_t> save_safetensors(const Model& m);
// The same bytes written into a buffer of safetensors_size(m) (no second copy of a large model).
size_t safetensors_size(const Model& m);
void save_safetensors_into(const Model& m, uint8_t* out, size_t size);
}  // namespace zs
