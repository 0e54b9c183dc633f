// Shared helpers of the thin N-API layer: argument checks (TypeError naming the argument),
// handles, and the Promise-returning worker.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "model.h"

namespace zsb {

struct ModelHandle { std::shared_ptr<zs::Model> m; };

std::string describe(const Napi::Value& v);

// A compute argument (matmul.h's Compute): "f32" or "bf16"; undefined is f32 where allow_undefined.
inline zs::Compute compute_of(const Napi::Value& v, bool allow_undefined) {
  if (allow_undefined && v.IsUndefined()) return zs::Compute::f32;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (s == "f32") return zs::Compute::f32;
  if (s == "bf16") return zs::Compute::bf16;
  throw Napi::TypeError::New(v.Env(), "expected \"f32\" or \"bf16\" for compute, got " + describe(v));
}

template <typename T>
struct ArrayName;
template <> struct ArrayName<float> { static constexpr const char* name = "Float32Array"; static constexpr napi_typedarray_type type = napi_float32_array; };
template <> struct ArrayName<int32_t> { static constexpr const char* name = "Int32Array"; static constexpr napi_typedarray_type type = napi_int32_array; };
template <> struct ArrayName<double> { static constexpr const char* name = "Float64Array"; static constexpr napi_typedarray_type type = napi_float64_array; };
template <> struct ArrayName<uint8_t> { static constexpr const char* name = "Uint8Array"; static constexpr napi_typedarray_type type = napi_uint8_array; };

// Checks that v is a T typed array with `len` elements (len < 0: any length); returns its data.
template <typename T>
T* typed(const Napi::Value& v, const char* what, long len, size_t* out_len = nullptr) {
  auto fail = [&]() {
    std::string want = std::string(ArrayName<T>::name) + (len >= 0 ? "(" + std::to_string(len) + ")" : "");
    throw Napi::TypeError::New(v.Env(), std::string("expected ") + want + " for " + what + ", got " + describe(v));
  };
  if (!v.IsTypedArray()) fail();
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != ArrayName<T>::type) fail();
  if (len >= 0 && (long)ta.ElementLength() != len) fail();
  if (out_len) *out_len = ta.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

// nullptr when v is undefined/null.
template <typename T>
T* typed_opt(const Napi::Value& v, const char* what, long len) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return typed<T>(v, what, len);
}

double number(const Napi::Value& v, const char* what);
std::shared_ptr<zs::Model> model_of(const Napi::Value& v);
Napi::Value wrap_model(Napi::Env env, std::shared_ptr<zs::Model> m);
zs::Config config_of(const Napi::Value& v);

// Runs `work` on the libuv pool (model mutex held when m is set); resolves with result(env).
// `keep` holds the JS buffers the work reads or writes alive until it settles.
Napi::Promise queue(Napi::Env env, std::shared_ptr<zs::Model> m, std::function<void()> work,
                    std::function<Napi::Value(Napi::Env)> result, std::vector<Napi::Value> keep);

void init_kernels(Napi::Env env, Napi::Object exports);
void init_adam(Napi::Env env, Napi::Object exports);

}  // namespace zsb
