// A run's policy from a weights blob, in the one place that reads the run's model settings, so that no
// role can forget one of them (a generator without compute_dtype sampled an fp32 policy while its
// updater trained a bf16-compute one: test/grpo/compute-bf16.test.ts caught it).
//   trainer: the fp32 masters (the updater's policy, replay --verify-updates, eval of a version);
//   frozen:  a copy in model.dtype (the generators' sampling policy, the KL reference);
// both compute in model.compute_dtype.
import { Policy } from "../native/index.ts";
import { computeDtype, frozenDtype, type Qwen2Config, type RunConfig } from "../streams/config.ts";

export type PolicyUse = "trainer" | "frozen";

export function runPolicy(bytes: Uint8Array, modelConfig: Qwen2Config, cfg: RunConfig, use: PolicyUse): Policy {
  const policy = Policy.fromSafetensors(bytes, modelConfig, use === "frozen" ? frozenDtype(cfg) : "f32");
  return policy.withCompute(computeDtype(cfg));
}
