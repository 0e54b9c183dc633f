// AdamW state handle: moments mirror the model's tensor table.
#include <cmath>
#include <cstring>

#include "adamw.h"
#include "util.h"

namespace zsb {
namespace {

struct Adam {
  std::shared_ptr<zs::Model> m;
  std::vector<float> mo, ve;
  long t = 0;
  float b1, b2, eps, wd;
};

Adam* adam_of(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected an AdamW handle, got " + describe(v));
  return v.As<Napi::External<Adam>>().Data();
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  try { m->check_trainable(); } catch (const std::exception& e) { throw Napi::Error::New(info.Env(), e.what()); }
  auto* a = new Adam{m, std::vector<float>(m->n_params, 0.f), std::vector<float>(m->n_params, 0.f), 0,
                     (float)number(info[1], "beta1"), (float)number(info[2], "beta2"), (float)number(info[3], "eps"),
                     (float)number(info[4], "weightDecay")};
  return Napi::External<Adam>::New(info.Env(), a, [](Napi::Env, Adam* p) { delete p; });
}

// step(a, lr, clipGrad) -> Promise<gradNorm>
Napi::Value Step(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  float lr = (float)number(info[1], "lr"), clip = (float)number(info[2], "clipGrad");
  auto m = a->m;
  auto norm = std::make_shared<double>(0.0);
  auto keep = Napi::Value(info[0]);
  return queue(info.Env(), m, [a, m, lr, clip, norm] {
    m->ensure_grads();
    *norm = std::sqrt(zs::sum_squares(m->grads.data(), m->n_params));
    float scale = clip > 0 && *norm > clip ? (float)(clip / (*norm + 1e-6)) : 1.f;
    a->t++;
    for (const auto& t : m->table)
      zs::adamw_update(m->params.data() + t.offset, a->mo.data() + t.offset, a->ve.data() + t.offset,
                       m->grads.data() + t.offset, t.numel, lr, a->b1, a->b2, a->eps, t.decay ? a->wd : 0.f, scale, a->t);
  }, [norm](Napi::Env env) { return Napi::Number::New(env, *norm); }, {keep});
}

Napi::Value T(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)adam_of(info[0])->t); }

// state(a) -> { m, v, t, beta1, beta2, eps, weightDecay } (copies)
Napi::Value State(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  std::lock_guard<std::mutex> lk(a->m->mu);
  Napi::Env env = info.Env();
  auto mo = Napi::Float32Array::New(env, a->mo.size()), ve = Napi::Float32Array::New(env, a->ve.size());
  std::memcpy(mo.Data(), a->mo.data(), a->mo.size() * 4);
  std::memcpy(ve.Data(), a->ve.data(), a->ve.size() * 4);
  Napi::Object o = Napi::Object::New(env);
  o.Set("m", mo); o.Set("v", ve); o.Set("t", (double)a->t);
  o.Set("beta1", a->b1); o.Set("beta2", a->b2); o.Set("eps", a->eps); o.Set("weightDecay", a->wd);
  return o;
}

// info(a) -> { n, t, beta1, beta2, eps, weightDecay } (no moments)
Napi::Value Info(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  std::lock_guard<std::mutex> lk(a->m->mu);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("n", (double)a->mo.size()); o.Set("t", (double)a->t);
  o.Set("beta1", a->b1); o.Set("beta2", a->b2); o.Set("eps", a->eps); o.Set("weightDecay", a->wd);
  return o;
}

// writeMoments(a, out: Uint8Array, offset): m then v (f32, little endian) into out at offset, no
// intermediate copy (a 0.5B model's moments are 4 GB)
Napi::Value WriteMoments(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  size_t len = 0;
  uint8_t* out = typed<uint8_t>(info[1], "out", -1, &len);
  double off = number(info[2], "offset");
  size_t bytes = a->mo.size() * 4;
  if (off < 0 || off + 2.0 * (double)bytes > (double)len) throw Napi::RangeError::New(info.Env(), "writeMoments: out is too small for the moments at offset " + std::to_string((long long)off));
  std::lock_guard<std::mutex> lk(a->m->mu);
  std::memcpy(out + (size_t)off, a->mo.data(), bytes);
  std::memcpy(out + (size_t)off + bytes, a->ve.data(), bytes);
  return info.Env().Undefined();
}

// readMomentsSlice(a, out: Uint8Array, from): bytes [from, from + out.length) of m then v (f32, little
// endian) into out: a snapshot streamed to the store in slices, never held whole
Napi::Value ReadMomentsSlice(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  size_t len = 0;
  uint8_t* out = typed<uint8_t>(info[1], "out", -1, &len);
  double from = number(info[2], "from");
  size_t bytes = a->mo.size() * 4;
  if (from < 0 || from + (double)len > 2.0 * (double)bytes) throw Napi::RangeError::New(info.Env(), "readMomentsSlice: [" + std::to_string((long long)from) + ", +" + std::to_string(len) + ") is outside the " + std::to_string(2 * bytes) + " bytes of moments");
  std::lock_guard<std::mutex> lk(a->m->mu);
  size_t f = (size_t)from, done = 0;
  if (f < bytes) {
    size_t k = std::min(len, bytes - f);
    std::memcpy(out, reinterpret_cast<const uint8_t*>(a->mo.data()) + f, k);
    done = k;
  }
  if (done < len) std::memcpy(out + done, reinterpret_cast<const uint8_t*>(a->ve.data()) + (f + done - bytes), len - done);
  return info.Env().Undefined();
}

// readMoments(a, bytes: Uint8Array, offset, t): m then v from bytes at offset (any alignment)
Napi::Value ReadMoments(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  size_t len = 0;
  const uint8_t* in = typed<uint8_t>(info[1], "bytes", -1, &len);
  double off = number(info[2], "offset");
  size_t bytes = a->mo.size() * 4;
  if (off < 0 || off + 2.0 * (double)bytes != (double)len) throw Napi::RangeError::New(info.Env(), "readMoments: the state holds " + std::to_string(len - (size_t)off) + " bytes of moments, the policy needs " + std::to_string(2 * bytes));
  std::lock_guard<std::mutex> lk(a->m->mu);
  std::memcpy(a->mo.data(), in + (size_t)off, bytes);
  std::memcpy(a->ve.data(), in + (size_t)off + bytes, bytes);
  a->t = (long)number(info[3], "t");
  return info.Env().Undefined();
}

// setState(a, m, v, t)
Napi::Value SetState(const Napi::CallbackInfo& info) {
  Adam* a = adam_of(info[0]);
  long n = (long)a->mo.size();
  float* mo = typed<float>(info[1], "m", n);
  float* ve = typed<float>(info[2], "v", n);
  std::lock_guard<std::mutex> lk(a->m->mu);
  std::memcpy(a->mo.data(), mo, n * 4);
  std::memcpy(a->ve.data(), ve, n * 4);
  a->t = (long)number(info[3], "t");
  return info.Env().Undefined();
}

}  // namespace

void init_adam(Napi::Env env, Napi::Object exports) {
  exports.Set("adamCreate", Napi::Function::New(env, Create, "adamCreate"));
  exports.Set("adamStep", Napi::Function::New(env, Step, "adamStep"));
  exports.Set("adamT", Napi::Function::New(env, T, "adamT"));
  exports.Set("adamState", Napi::Function::New(env, State, "adamState"));
  exports.Set("adamSetState", Napi::Function::New(env, SetState, "adamSetState"));
  exports.Set("adamInfo", Napi::Function::New(env, Info, "adamInfo"));
  exports.Set("adamWriteMoments", Napi::Function::New(env, WriteMoments, "adamWriteMoments"));
  exports.Set("adamReadMoments", Napi::Function::New(env, ReadMoments, "adamReadMoments"));
  exports.Set("adamReadMomentsSlice", Napi::Function::New(env, ReadMomentsSlice, "adamReadMomentsSlice"));
}

}  // namespace zsb
