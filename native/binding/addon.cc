// The thin N-API layer over native/core: validates arguments, converts, queues long calls.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pool_stress.h"
#include "generate.h"
#include "kernelset.h"
#include "safetensors.h"
#include "threadpool.h"
#include "train.h"
#include "util.h"

namespace zsb {

std::shared_ptr<zs::Model> model_of(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a policy handle, got " + describe(v));
  auto* h = v.As<Napi::External<ModelHandle>>().Data();
  if (!h->m) throw Napi::Error::New(v.Env(), "policy was disposed");
  return h->m;
}

Napi::Value wrap_model(Napi::Env env, std::shared_ptr<zs::Model> m) {
  return Napi::External<ModelHandle>::New(env, new ModelHandle{std::move(m)}, [](Napi::Env, ModelHandle* h) { delete h; });
}

zs::Config config_of(const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "expected a Qwen2Config object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  auto num = [&](const char* k) { return number(o.Get(k), (std::string("config.") + k).c_str()); };
  zs::Config c;
  c.vocab_size = (int)num("vocab_size");
  c.hidden_size = (int)num("hidden_size");
  c.num_hidden_layers = (int)num("num_hidden_layers");
  c.num_attention_heads = (int)num("num_attention_heads");
  c.num_key_value_heads = (int)num("num_key_value_heads");
  c.head_dim = o.Get("head_dim").IsNumber() ? (int)num("head_dim") : c.hidden_size / std::max(1, c.num_attention_heads);
  c.intermediate_size = (int)num("intermediate_size");
  c.rope_theta = (float)num("rope_theta");
  c.rms_norm_eps = (float)num("rms_norm_eps");
  c.max_position_embeddings = (int)num("max_position_embeddings");
  c.tie_word_embeddings = o.Get("tie_word_embeddings").ToBoolean();
  try { c.validate(); } catch (const std::exception& e) { throw Napi::TypeError::New(v.Env(), e.what()); }
  return c;
}

namespace {

template <typename F>
auto guard(Napi::Env env, F f) -> decltype(f()) {
  try { return f(); } catch (const Napi::Error&) { throw; } catch (const std::exception& e) { throw Napi::Error::New(env, e.what()); }
}

// A model dtype argument: undefined or "f32" (fp32), "bf16" (a frozen bf16 copy).
zs::Dtype dtype_of(const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || (v.IsString() && v.As<Napi::String>().Utf8Value() == "f32")) return zs::Dtype::f32;
  if (v.IsString() && v.As<Napi::String>().Utf8Value() == "bf16") return zs::Dtype::bf16;
  throw Napi::TypeError::New(v.Env(), std::string("expected \"f32\" or \"bf16\" for ") + what + ", got " + describe(v));
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  auto c = config_of(info[0]);
  double seed = number(info[1], "seed"), sd = number(info[2], "initStd");
  return guard(info.Env(), [&] {
    auto m = std::make_shared<zs::Model>(c);
    m->init_random((uint64_t)seed, (float)sd);
    return wrap_model(info.Env(), m);
  });
}

Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  auto c = config_of(info[0]);
  size_t len;
  uint8_t* p = typed<uint8_t>(info[1], "bytes", -1, &len);
  const zs::Dtype d = dtype_of(info[2], "dtype");
  return guard(info.Env(), [&] {
    auto m = std::make_shared<zs::Model>(c, d);
    zs::load_safetensors(*m, p, len);
    return wrap_model(info.Env(), m);
  });
}

Napi::Value LoadFile(const Napi::CallbackInfo& info) {
  auto c = config_of(info[0]);
  // one path, or an array of shard paths (a sharded checkpoint)
  std::vector<std::string> paths;
  if (info[1].IsString()) {
    paths.push_back(info[1].As<Napi::String>());
  } else if (info[1].IsArray() && info[1].As<Napi::Array>().Length() > 0) {
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!a.Get(i).IsString()) throw Napi::TypeError::New(info.Env(), "expected a string for path[" + std::to_string(i) + "], got " + describe(a.Get(i)));
      paths.push_back(a.Get(i).As<Napi::String>());
    }
  } else {
    throw Napi::TypeError::New(info.Env(), "expected a string or a non-empty array of strings for path, got " + describe(info[1]));
  }
  const zs::Dtype d = dtype_of(info[2], "dtype");
  auto m = guard(info.Env(), [&] { return std::make_shared<zs::Model>(c, d); });
  return queue(info.Env(), nullptr, [m, paths] { if (paths.size() == 1) zs::load_safetensors_file(*m, paths[0]); else zs::load_safetensors_files(*m, paths); },
               [m](Napi::Env env) { return wrap_model(env, m); }, {});
}

Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  const bool bf16 = dtype_of(info[1], "dtype") == zs::Dtype::bf16;
  std::lock_guard<std::mutex> lk(m->mu);
  // serialised straight into the buffer handed to JavaScript: one copy of the weights, not two
  auto out = Napi::Buffer<uint8_t>::New(info.Env(), zs::safetensors_size(*m, bf16));
  zs::save_safetensors_into(*m, out.Data(), out.Length(), bf16);
  return out;
}

Napi::Value Clone(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  const zs::Dtype d = info[1].IsUndefined() ? m->dtype : dtype_of(info[1], "dtype");
  std::lock_guard<std::mutex> lk(m->mu);
  return guard(info.Env(), [&] {
    auto c = std::make_shared<zs::Model>(m->cfg, d);
    c->compute = m->compute;
    if (d == m->dtype) { c->params = m->params; c->params16 = m->params16; return wrap_model(info.Env(), c); }
    if (d == zs::Dtype::f32) { m->read_f32(c->params.data()); return wrap_model(info.Env(), c); }  // widening: exact
    c->set_from_f32_as_bf16(m->params.data());                                                      // rounding
    return wrap_model(info.Env(), c);
  });
}

// setCompute(model, "f32" | "bf16"): the precision of the model's linear layers (model.h); compute(model).
Napi::Value SetCompute(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  const zs::Compute c = compute_of(info[1], false);
  std::lock_guard<std::mutex> lk(m->mu);  // never between the steps of a running call
  m->compute = c;
  return info.Env().Undefined();
}
Napi::Value ComputeOf(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model_of(info[0])->compute == zs::Compute::bf16 ? "bf16" : "f32");
}

Napi::Value DtypeOf(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model_of(info[0])->dtype == zs::Dtype::bf16 ? "bf16" : "f32");
}

Napi::Value NumParams(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)model_of(info[0])->n_params); }

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) info[0].As<Napi::External<ModelHandle>>().Data()->m.reset();
  return info.Env().Undefined();
}

Napi::Value Table(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  Napi::Array a = Napi::Array::New(info.Env(), m->table.size());
  for (size_t i = 0; i < m->table.size(); i++) {
    const auto& t = m->table[i];
    Napi::Object o = Napi::Object::New(info.Env());
    Napi::Array shape = Napi::Array::New(info.Env(), t.shape.size());
    for (size_t k = 0; k < t.shape.size(); k++) shape[k] = Napi::Number::New(info.Env(), (double)t.shape[k]);
    o.Set("name", t.name); o.Set("shape", shape);
    o.Set("offset", (double)t.offset); o.Set("numel", (double)t.numel); o.Set("decay", t.decay);
    a[i] = o;
  }
  return a;
}

// copyParams(h, which: 0 params | 1 grads) -> Float32Array copy; setParams(h, Float32Array)
Napi::Value CopyParams(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  const bool grads = number(info[1], "which") == 1;
  std::lock_guard<std::mutex> lk(m->mu);
  if (grads) guard(info.Env(), [&] { m->ensure_grads(); });  // a model that never ran backward: zeros
  auto out = Napi::Float32Array::New(info.Env(), m->n_params);
  if (grads) std::memcpy(out.Data(), m->grads.data(), m->n_params * 4);
  else m->read_f32(out.Data());  // a bf16 copy's values widened (exact)
  return out;
}

Napi::Value SetParams(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  float* p = typed<float>(info[1], "params", (long)m->n_params);
  std::lock_guard<std::mutex> lk(m->mu);
  guard(info.Env(), [&] { m->check_trainable(); });
  std::memcpy(m->params.data(), p, m->n_params * 4);
  return info.Env().Undefined();
}

// releaseBuffers(h): frees the activations and scratch a call left (they grow to the largest batch
// and stay): a large model's update leaves gigabytes there that the snapshot after it needs
Napi::Value ReleaseBuffers(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  std::lock_guard<std::mutex> lk(m->mu);
  m->acts = zs::Acts{};
  m->ws = zs::Scratch{};
  return info.Env().Undefined();
}

Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  std::lock_guard<std::mutex> lk(m->mu);
  guard(info.Env(), [&] { m->ensure_grads(); });
  std::fill(m->grads.begin(), m->grads.end(), 0.f);
  return info.Env().Undefined();
}

// Checks tokens/seqLens and returns N.
long batch_of(const Napi::CallbackInfo& info, int ti, int si, const zs::Model& m, int** tokens, int** lens, int* B) {
  size_t n, b;
  *tokens = typed<int32_t>(info[ti], "tokens", -1, &n);
  *lens = typed<int32_t>(info[si], "seqLens", -1, &b);
  long sum = 0;
  for (size_t i = 0; i < b; i++) {
    if ((*lens)[i] <= 0) throw Napi::TypeError::New(info.Env(), "seqLens[" + std::to_string(i) + "] must be > 0");
    sum += (*lens)[i];
  }
  if (sum != (long)n) throw Napi::TypeError::New(info.Env(), "expected Int32Array(sum(seqLens) = " + std::to_string(sum) + ") for tokens, got " + describe(info[ti]));
  *B = (int)b;
  (void)m;
  return sum;
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  int *tok, *lens, B;
  long N = batch_of(info, 1, 2, *m, &tok, &lens, &B);
  float* out = typed<float>(info[3], "logits", N * m->cfg.vocab_size);
  return queue(info.Env(), m, [=] { zs::model_logits(*m, out, tok, lens, B); }, nullptr, {info[1], info[2], info[3]});
}

Napi::Value Logprobs(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  int *tok, *lens, B;
  long N = batch_of(info, 1, 2, *m, &tok, &lens, &B);
  float T = (float)number(info[3], "temperature");
  if (!(T > 0)) throw Napi::TypeError::New(info.Env(), "temperature must be > 0");
  float* out = typed<float>(info[4], "out", N);
  return queue(info.Env(), m, [=] { zs::model_logprobs(*m, out, tok, lens, B, T); }, nullptr, {info[1], info[2], info[4]});
}

zs::LossSpec spec_of(const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "expected a LossSpec object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  zs::LossSpec s;
  std::string kind = o.Get("kind").ToString();
  s.global_tokens = number(o.Get("globalTokens"), "loss.globalTokens");
  if (kind == "ce") { s.kind = zs::LossKind::CE; return s; }
  if (kind != "grpo") throw Napi::TypeError::New(v.Env(), "loss.kind must be 'ce' or 'grpo', got '" + kind + "'");
  s.kind = zs::LossKind::GRPO;
  s.clip_low = (float)number(o.Get("clipLow"), "loss.clipLow");
  s.clip_high = (float)number(o.Get("clipHigh"), "loss.clipHigh");
  s.kl_coef = (float)number(o.Get("klCoef"), "loss.klCoef");
  s.temperature = (float)number(o.Get("temperature"), "loss.temperature");
  s.global_seqs = number(o.Get("globalSeqs"), "loss.globalSeqs");
  s.max_response_length = number(o.Get("maxResponseLength"), "loss.maxResponseLength");
  std::string kl = o.Get("klEstimator").ToString(), agg = o.Get("aggregation").ToString();
  const char* kls[] = {"k1", "k2", "k3"};
  const char* aggs[] = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"};
  int ki = -1, ai = -1;
  for (int i = 0; i < 3; i++) { if (kl == kls[i]) ki = i; if (agg == aggs[i]) ai = i; }
  if (ki < 0) throw Napi::TypeError::New(v.Env(), "loss.klEstimator must be k1, k2 or k3, got '" + kl + "'");
  if (ai < 0) throw Napi::TypeError::New(v.Env(), "loss.aggregation must be token-mean, seq-mean-token-mean or seq-mean-token-sum-norm, got '" + agg + "'");
  if (!(s.temperature > 0)) throw Napi::TypeError::New(v.Env(), "loss.temperature must be > 0");
  s.kl = (zs::KlEstimator)ki;
  s.agg = (zs::Aggregation)ai;
  // the off-policy correction and the entropy bonus: optional, absent = the on-policy objective
  auto opt_num = [&](const char* k, double def) {
    Napi::Value x = o.Get(k);
    return x.IsUndefined() ? def : number(x, (std::string("loss.") + k).c_str());
  };
  Napi::Value off = o.Get("offPolicy");
  std::string op = off.IsUndefined() ? "none" : off.ToString().Utf8Value();
  const char* ops[] = {"none", "decoupled", "tis", "mis"};
  int oi = -1;
  for (int i = 0; i < 4; i++) if (op == ops[i]) oi = i;
  if (oi < 0) throw Napi::TypeError::New(v.Env(), "loss.offPolicy must be none, decoupled, tis or mis, got '" + op + "'");
  s.off_policy = (zs::OffPolicy)oi;
  s.behav_weight_cap = opt_num("behavWeightCap", s.behav_weight_cap);
  s.tis_cap = opt_num("tisCap", s.tis_cap);
  s.mis_low = opt_num("misLow", s.mis_low);
  s.mis_high = opt_num("misHigh", s.mis_high);
  s.entropy_coef = opt_num("entropyCoef", 0);
  if (!(s.behav_weight_cap > 0)) throw Napi::TypeError::New(v.Env(), "loss.behavWeightCap must be > 0, got " + std::to_string(s.behav_weight_cap));
  if (!(s.tis_cap > 0)) throw Napi::TypeError::New(v.Env(), "loss.tisCap must be > 0, got " + std::to_string(s.tis_cap));
  if (!(s.mis_low > 0) || !(s.mis_low < s.mis_high))
    throw Napi::TypeError::New(v.Env(), "loss.misLow must be > 0 and below loss.misHigh, got [" + std::to_string(s.mis_low) + ", " + std::to_string(s.mis_high) + "]");
  if (!(s.entropy_coef >= 0)) throw Napi::TypeError::New(v.Env(), "loss.entropyCoef must be >= 0, got " + std::to_string(s.entropy_coef));
  return s;
}

// accumulate(h, tokens, seqLens, lossMask, advantages?, oldLogprobs?, refLogprobs?, proxLogprobs?, spec,
//            stats Float64Array(kStats))
constexpr int kStats = 15;
Napi::Value Accumulate(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  int *tok, *lens, B;
  long N = batch_of(info, 1, 2, *m, &tok, &lens, &B);
  zs::TrainBatch b{tok, lens, B, typed<float>(info[3], "lossMask", N), typed_opt<float>(info[4], "advantages", N),
                   typed_opt<float>(info[5], "oldLogprobs", N), typed_opt<float>(info[6], "refLogprobs", N),
                   typed_opt<float>(info[7], "proxLogprobs", N)};
  zs::LossSpec s = spec_of(info[8]);
  const std::string want = " (Float32Array(" + std::to_string(N) + "))";
  if (s.kind == zs::LossKind::GRPO && (!b.advantages || !b.old_lp))
    throw Napi::TypeError::New(info.Env(), "the grpo loss needs advantages and oldLogprobs" + want);
  if (s.kind == zs::LossKind::GRPO && s.kl_coef > 0 && !b.ref_lp)
    throw Napi::TypeError::New(info.Env(), "klCoef > 0 needs refLogprobs" + want);
  if (s.kind == zs::LossKind::GRPO && s.off_policy != zs::OffPolicy::None && !b.prox_lp)
    throw Napi::TypeError::New(info.Env(), "loss.offPolicy '" + info[8].As<Napi::Object>().Get("offPolicy").ToString().Utf8Value() +
                                               "' needs proxLogprobs" + want);
  double* stats = typed<double>(info[9], "stats", kStats);
  return queue(info.Env(), m, [=] {
    zs::LossStats st = zs::model_accumulate(*m, b, s);
    double v[kStats] = {st.loss, st.pg_loss, st.kl_loss, st.tokens, st.kl_sum, st.entropy_sum, st.clip_count, st.ratio_max,
                        st.entropy_loss, st.w_sum, st.w_max, st.w_truncated, st.w_masked, st.mismatch_k3_sum, st.mismatch_max_gap};
    std::memcpy(stats, v, sizeof v);
  }, nullptr, {info[1], info[2], info[3], info[4], info[5], info[6], info[7], info[9]});
}

// sample(h, prompts, promptLens, seeds Float64Array(R), {temperature, topP, topK, maxNewTokens}, stopIds,
//        outTokens Int32Array(R*max), outLogprobs Float32Array(R*max), outLens Int32Array(R), outFinish Int32Array(R))
Napi::Value Sample(const Napi::CallbackInfo& info) {
  auto m = model_of(info[0]);
  int *prompts, *lens, R;
  batch_of(info, 1, 2, *m, &prompts, &lens, &R);
  double* seeds = typed<double>(info[3], "seeds", R);
  if (!info[4].IsObject()) throw Napi::TypeError::New(info.Env(), "expected sampler settings, got " + describe(info[4]));
  Napi::Object o = info[4].As<Napi::Object>();
  zs::SampleSettings st{(float)number(o.Get("temperature"), "temperature"), (float)number(o.Get("topP"), "topP"),
                        (int)number(o.Get("topK"), "topK")};
  int max_new = (int)number(o.Get("maxNewTokens"), "maxNewTokens");
  if (max_new <= 0) throw Napi::TypeError::New(info.Env(), "maxNewTokens must be > 0");
  if (!(st.top_p > 0 && st.top_p <= 1)) throw Napi::TypeError::New(info.Env(), "topP must be in (0, 1]");
  size_t nstop;
  int* stop = typed<int32_t>(info[5], "stopTokenIds", -1, &nstop);
  auto seeds64 = std::make_shared<std::vector<uint64_t>>(R);
  for (int r = 0; r < R; r++) {
    if (!(seeds[r] >= 0 && seeds[r] < 9007199254740992.0) || seeds[r] != (double)(uint64_t)seeds[r])
      throw Napi::TypeError::New(info.Env(), "seeds[" + std::to_string(r) + "] must be an integer in [0, 2^53)");
    (*seeds64)[r] = (uint64_t)seeds[r];
  }
  zs::SampleOutput out{typed<int32_t>(info[6], "outTokens", (long)R * max_new), typed<float>(info[7], "outLogprobs", (long)R * max_new),
                       typed<int32_t>(info[8], "outLens", R), typed<int32_t>(info[9], "outFinish", R)};
  zs::SampleRequest req{prompts, lens, R, seeds64->data(), st, max_new, stop, (int)nstop};
  const bool profile = std::getenv("ZS_PROFILE") != nullptr;  // per-phase times of this call to stderr
  return queue(info.Env(), m, [=]() mutable {
    (void)seeds64;
    zs::SampleProfile prof;
    zs::model_sample(*m, req, out, profile ? &prof : nullptr);
    if (profile) std::fprintf(stderr, "%s\n", prof.describe().c_str());
  }, nullptr,
               {info[1], info[2], info[5], info[6], info[7], info[8], info[9]});
}

Napi::Value SetLogitChunkRows(const Napi::CallbackInfo& info) {
  int n = (int)number(info[0], "rows");
  if (n < 0) throw Napi::TypeError::New(info.Env(), "rows must be >= 0 (0: automatic)");
  zs::set_logit_chunk_rows(n);
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = (int)number(info[0], "threads");
  if (n < 1) throw Napi::TypeError::New(info.Env(), "threads must be >= 1");
  zs::set_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), zs::get_threads()); }
Napi::Value PoolWorkerItems(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)zs::pool_worker_items());
}

// poolStress(seed, millis, maxCalls, maxN): the thread-pool stress of native/test on a libuv
// thread, as production calls come in (test/native/pool.test.ts runs several at once).
Napi::Value PoolStress(const Napi::CallbackInfo& info) {
  double seed = number(info[0], "seed"), millis = number(info[1], "millis"), max_calls = number(info[2], "maxCalls");
  int max_n = (int)number(info[3], "maxN");
  if (!(seed >= 0) || !(millis >= 0) || !(max_calls >= 0) || max_n < 1 || max_n > 64)
    throw Napi::TypeError::New(info.Env(), "poolStress(seed >= 0, millis >= 0, maxCalls >= 0, maxN in 1..64)");
  auto res = std::make_shared<zs::PoolStressResult>();
  return queue(info.Env(), nullptr,
               [=]() { *res = zs::pool_stress((uint64_t)seed, (int)millis, (uint64_t)max_calls, max_n); },
               [res](Napi::Env env) {
                 Napi::Object o = Napi::Object::New(env);
                 o.Set("calls", (double)res->calls); o.Set("items", (double)res->items);
                 o.Set("missing", (double)res->missing); o.Set("duplicate", (double)res->duplicate);
                 o.Set("outOfRange", (double)res->out_of_range); o.Set("late", (double)res->late);
                 o.Set("badTid", (double)res->bad_tid);
                 return o;
               },
               {});
}

// kernelSet() -> the active set's name (ZS_KERNELS or the CPU's best; a bad ZS_KERNELS throws, naming it);
// kernelSetsSupported() -> the sets this CPU can run, best last
Napi::Value KernelSetName(const Napi::CallbackInfo& info) {
  try { return Napi::String::New(info.Env(), zs::kernel_set_name(zs::kernel_set())); }
  catch (const std::exception& e) { throw Napi::Error::New(info.Env(), e.what()); }
}
Napi::Value KernelSetsSupported(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (zs::KernelSet s : {zs::KernelSet::avx2, zs::KernelSet::avx512, zs::KernelSet::avx512bf16})
    if (zs::kernel_set_supported(s)) a[n++] = Napi::String::New(info.Env(), zs::kernel_set_name(s));
  return a;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) { exports.Set(name, Napi::Function::New(env, f, name)); };
  fn("create", Create); fn("fromBytes", FromBytes); fn("loadFile", LoadFile); fn("toBytes", ToBytes);
  fn("clone", Clone); fn("dtype", DtypeOf); fn("setCompute", SetCompute); fn("compute", ComputeOf); fn("numParams", NumParams); fn("dispose", Dispose); fn("table", Table);
  fn("copyParams", CopyParams); fn("setParams", SetParams); fn("zeroGrad", ZeroGrad); fn("releaseBuffers", ReleaseBuffers);
  fn("forward", Forward); fn("logprobs", Logprobs); fn("accumulate", Accumulate); fn("sample", Sample);
  fn("setThreads", SetThreads); fn("getThreads", GetThreads); fn("poolWorkerItems", PoolWorkerItems); fn("poolStress", PoolStress);
  fn("setLogitChunkRows", SetLogitChunkRows); fn("kernelSet", KernelSetName); fn("kernelSetsSupported", KernelSetsSupported);
  init_adam(env, exports);
  init_kernels(env, exports);
  return exports;
}

}  // namespace zsb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return zsb::Init(env, exports); }
NODE_API_MODULE(zerostream_native, InitAddon)
