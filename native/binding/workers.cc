#include <mutex>
#include <vector>

#include "util.h"

namespace zsb {
namespace {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::shared_ptr<zs::Model> m, std::function<void()> work,
                std::function<Napi::Value(Napi::Env)> result, std::vector<Napi::Value> keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), m_(std::move(m)),
        work_(std::move(work)), result_(std::move(result)) {
    for (auto& v : keep) if (v.IsObject()) keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      if (m_) {
        std::lock_guard<std::mutex> lk(m_->mu);
        work_();
      } else {
        work_();
      }
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<zs::Model> m_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<Napi::ObjectReference> keep_;
};

}  // namespace

Napi::Promise queue(Napi::Env env, std::shared_ptr<zs::Model> m, std::function<void()> work,
                    std::function<Napi::Value(Napi::Env)> result, std::vector<Napi::Value> keep) {
  auto* w = new PromiseWorker(env, std::move(m), std::move(work), std::move(result), std::move(keep));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
                                  "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array",
                                  "BigUint64Array"};
    auto ta = v.As<Napi::TypedArray>();
    int t = (int)ta.TypedArrayType();
    return std::string(t >= 0 && t < 11 ? names[t] : "TypedArray") + "(" + std::to_string(ta.ElementLength()) + ")";
  }
  if (v.IsArray()) return "Array(" + std::to_string(v.As<Napi::Array>().Length()) + ")";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  return "object";
}

double number(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("expected a number for ") + what + ", got " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

}  // namespace zsb
