// Valid example events for tests.
import type { z } from "zod";
import { configHash, resolveConfig } from "../../streams/config.ts";
import { groupIdOf, type GroupSampled, type GroupScored, type GroupScoredV1, type RunStarted } from "../../streams/events/index.ts";
import { tinyConfig } from "./tiny.ts";

export const DIGEST = `sha256:${"0".repeat(64)}`;
export const SAMPLER = { temperature: 1, topP: 1, topK: 0, maxNewTokens: 16, stopTokenIds: [2] };

export function groupSampled(runId: string, step: number, slot: number, n = 2): GroupSampled {
  return {
    type: "GroupSampled", v: 2, runId, groupId: groupIdOf(step, slot), slot, taskId: `s${step}.c0`, step, policyVersion: step,
    prompt: { id: `p${slot}`, index: slot, text: "1+1", tokens: [5, 6, 5] },
    gold: "2", sampler: SAMPLER,
    samples: Array.from({ length: n }, (_, i) => ({ index: i, seed: 100 + i, tokens: [7, 2], text: "2", logprobs: [-0.5, -0.1], finish: "stop" as const })),
    generator: "test", ms: 1,
  };
}

export function groupScored(runId: string, step: number, slot: number, rewards: number[] = [1, 0]): GroupScored {
  return { ...groupScoredV1(runId, step, slot, rewards), v: 2 };
}

/** A GroupScored as written before v2 (no formatRule on its scores). */
export function groupScoredV1(runId: string, step: number, slot: number, rewards: number[] = [1, 0]): z.infer<typeof GroupScoredV1> {
  return {
    type: "GroupScored", v: 1, runId, groupId: `s${step}.g${slot}`, step, policyVersion: step, scorer: "base_acc@1",
    rewardConfig: { fn: "base_acc" },
    scores: rewards.map((r, i) => ({ index: i, reward: r, format: r, accuracy: r, outcome: r ? "correct" as const : "wrong" as const, extracted: "2", ms: 0.1 })),
    worker: "test", ms: 1,
  };
}

/** A RunStarted whose configs parse (runConfigOf, modelConfigOf): the tiny config and its architecture. */
export function runStarted(runId: string): RunStarted {
  const config = resolveConfig(tinyConfig());
  const modelConfig = { ...config.model.arch!, head_dim: config.model.arch!.hidden_size / config.model.arch!.num_attention_heads };
  return { type: "RunStarted", v: 2, runId, config, configHash: configHash(config), codeVersion: "test", seed: config.seed, modelConfig, initialWeightsDigest: DIGEST, startedAt: new Date(0).toISOString() };
}
