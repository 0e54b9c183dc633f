// Groups/s through the reward consumer processes on a local nats-server: N GroupSampled events
// (8 completions each, realistic R1-format texts with DeepScaleR-style answers) published for a run,
// M `zerostream worker reward` processes, time from the first publish to the last GroupScored.
// Workers are warmed up first (one group each) so process start-up is not counted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnWorker, startRun } from "../cli/launch.ts";
import { Policy } from "../native/index.ts";
import { resolveConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import { groupIdOf, type GroupSampled } from "../streams/events/index.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { LOG_STREAM, subjects } from "../streams/subjects.ts";
import { median } from "./stats.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ANSWERS = ["\\frac{3}{4}", "12", "2\\sqrt{3}", "(1, 2)", "x^2+1", "[0, 1)", "\\pi/6", "1{,}000", "-\\frac{2}{3}", "7"];

/** A group of 8 R1-format completions of realistic length, half of them correct. */
export function benchGroup(runId: string, step: number, slot: number): GroupSampled {
  const gold = ANSWERS[slot % ANSWERS.length];
  return {
    type: "GroupSampled", v: 2, runId, groupId: groupIdOf(step, slot), slot, taskId: `s${step}.c0`, step, policyVersion: 0,
    prompt: { id: `p${slot}`, index: slot, text: "question", tokens: [1, 2, 3] }, gold,
    sampler: { temperature: 1, topP: 1, topK: 0, maxNewTokens: 512, stopTokenIds: [1] },
    samples: Array.from({ length: 8 }, (_, i) => {
      const ans = i % 2 ? gold : ANSWERS[(slot + i) % ANSWERS.length];
      const text = `<think>${"Let me work through the problem step by step. ".repeat(12)}So the answer is ${ans}.</think><answer>The answer is \\boxed{${ans}}</answer>`;
      return { index: i, seed: i, tokens: [5], text, logprobs: [-1], finish: "stop" as const };
    }),
    generator: "bench", ms: 1,
  };
}

/** A RunStarted run (a tiny random policy) whose reward config the consumers score with. */
export async function benchRun(log: EventLog): Promise<string> {
  const cfg = resolveConfig({
    seed: 0, model: { name: "bench", arch: { vocab_size: 104, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, intermediate_size: 8, max_position_embeddings: 64 } },
    tokenizer: { type: "char" }, data: { train: { synthetic: "addition" }, template: "tiny_r1", max_prompt_length: 16, max_response_length: 16 },
    rollout: { n_samples_per_prompt: 8 }, reward: { fn: "base_acc" }, actor: { global_batch_size: 1, train_iters: 1, lr: 1e-3 },
  });
  const policy = Policy.init(cfg.model.arch as never, 0);
  try { return (await startRun(log, cfg, { policy })).runId; } finally { policy.dispose(); }
}

async function scoredCount(log: EventLog, runId: string): Promise<number> {
  const info = await log.jsm.streams.info(LOG_STREAM, { subjects_filter: subjects.reward(runId) });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + (b as number), 0);
}

export async function waitScored(log: EventLog, runId: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await scoredCount(log, runId)) < n) {
    if (Date.now() > end) throw new Error(`timed out: ${await scoredCount(log, runId)} of ${n} groups scored`);
    await sleep(25);
  }
}

/** Publishes groups of `step` one at a time until every running reward worker has scored one; returns how many. */
export async function warmUp(log: EventLog, runId: string, step: number, workers: number, alreadyScored: number): Promise<number> {
  const seen = new Set<string>();
  let n = 0;
  const end = Date.now() + 120_000;
  while (seen.size < workers) {
    if (Date.now() > end) throw new Error(`only ${seen.size} of ${workers} reward workers warmed up`);
    await log.publish(benchGroup(runId, step, n++));
    await waitScored(log, runId, alreadyScored + n, 60_000);
    for (const r of await log.replayAll(runId, { subject: subjects.reward(runId) })) {
      if (r.event.type === "GroupScored" && r.event.step === step) seen.add(r.event.worker);
    }
  }
  return n;
}

export async function measure(consumers: number, groups: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-reward-"));
  const server = await startLocalServer({ storeDir: dir });
  const log = await EventLog.connect(server.url);
  const runId = await benchRun(log);
  const workers = Array.from({ length: consumers }, (_, i) => spawnWorker("reward", server.url, ["--name", `bench-${i}`], { ZS_LOG_LEVEL: "warn" }));
  try {
    const warm = await warmUp(log, runId, 0, consumers, 0);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: groups }, (_, i) => log.publish(benchGroup(runId, 1, i))));
    await waitScored(log, runId, warm + groups, 300_000);
    return groups / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await log.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function natsGroupsPerSecond(o: { groups?: number; reps?: number } = {}): Promise<Record<string, unknown>> {
  const groups = o.groups ?? 200, reps = o.reps ?? 2;
  const out: Record<string, unknown> = { groups, samplesPerGroup: 8, reps };
  for (const m of [1, 2]) {
    const all: number[] = [];
    for (let r = 0; r < reps; r++) all.push(await measure(m, groups));
    out[`consumers${m}`] = { groupsPerSecond: Number(median(all).toFixed(1)), all: all.map((x) => Number(x.toFixed(1))) };
  }
  return out;
}
