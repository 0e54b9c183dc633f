// `npm run bench -- cluster [--groups N] [--reps N] [--nodes 1|3] [--consumers 1,2,4] [--json]`
// Scored groups/s of the reward consumers on a supervised cluster (default 3 nodes, R3 streams, with
// authentication): `cluster up` with no generator, a RunStarted run, then for each consumer count M
// (`cluster scale reward=M`) every worker is warmed up (it has scored a group), N pre-built
// GroupSampled events (8 R1-format completions each) are published at once, and the time from the
// first publish to the last GroupScored is measured. Prints the median of --reps repetitions.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectAuth, credsPath } from "../cli/cluster/auth.ts";
import { down, scale, up } from "../cli/cluster/control.ts";
import { startRun } from "../cli/launch.ts";
import { Policy } from "../native/index.ts";
import { resolveConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import type { GroupSampled } from "../streams/events/index.ts";
import { LOG_STREAM, subjects } from "../streams/subjects.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ANSWERS = ["\\frac{3}{4}", "12", "2\\sqrt{3}", "(1, 2)", "x^2+1", "[0, 1)", "\\pi/6", "1{,}000", "-\\frac{2}{3}", "7"];

function group(runId: string, step: number, slot: number): GroupSampled {
  const gold = ANSWERS[slot % ANSWERS.length];
  return {
    type: "GroupSampled", v: 1, runId, groupId: `s${step}.g${slot}`, taskId: `s${step}.c0`, step, policyVersion: 0,
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

async function scored(log: EventLog, runId: string): Promise<number> {
  const info = await log.jsm.streams.info(LOG_STREAM, { subjects_filter: subjects.reward(runId) });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + (b as number), 0);
}

async function waitScored(log: EventLog, runId: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await scored(log, runId)) < n) {
    if (Date.now() > end) throw new Error(`timed out: ${await scored(log, runId)} of ${n} groups scored`);
    await sleep(25);
  }
}

/** Publishes groups one at a time until every running reward worker has scored one. */
async function warmUp(log: EventLog, runId: string, step: number, workers: number, start: number): Promise<number> {
  const seen = new Set<string>();
  let n = start;
  const end = Date.now() + 120_000;
  while (seen.size < workers) {
    if (Date.now() > end) throw new Error(`only ${seen.size} of ${workers} reward workers warmed up`);
    await log.publish(group(runId, step, n++));
    await waitScored(log, runId, n, 60_000);
    for (const r of await log.replayAll(runId, { subject: subjects.reward(runId) })) {
      if (r.event.type === "GroupScored" && r.event.step === step) seen.add(r.event.worker);
    }
  }
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    groups: { type: "string", default: "200" }, reps: { type: "string", default: "2" }, nodes: { type: "string", default: "3" },
    consumers: { type: "string", default: "1,2,4" }, json: { type: "boolean", default: false },
  } });
  const groups = Number(values.groups), reps = Number(values.reps), nodes = Number(values.nodes);
  const counts = values.consumers!.split(",").map(Number);
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-cluster-"));
  const state = await up({ dir, nodes, rollout: 0, reward: counts[0], timeoutMs: 180_000 });
  const log = await EventLog.connect(state.servers, { ...connectAuth(credsPath(dir, "admin")), replicas: state.replicas });
  const result: Record<string, unknown> = { suite: "cluster", nodes, replicas: state.replicas, groups, samplesPerGroup: 8, reps };
  try {
    const cfg = resolveConfig({
      seed: 0, model: { name: "bench", arch: { vocab_size: 104, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, intermediate_size: 8, max_position_embeddings: 64 } },
      tokenizer: { type: "char" }, data: { train: { synthetic: "addition" }, template: "tiny_r1", max_prompt_length: 16, max_response_length: 16 },
      rollout: { n_samples_per_prompt: 8 }, reward: { fn: "base_acc" }, actor: { global_batch_size: 1, train_iters: 1, lr: 1e-3 },
    });
    const policy = Policy.init(cfg.model.arch as never, 0);
    const runId = (await startRun(log, cfg, { policy })).runId;
    policy.dispose();
    let total = 0, step = 0;
    for (const m of counts) {
      await scale(dir, { reward: m });
      const all: number[] = [];
      for (let r = 0; r < reps; r++) {
        step++;
        const warm = await warmUp(log, runId, step, m, 0);
        total += warm;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: groups }, (_, i) => log.publish(group(runId, step, warm + i))));
        total += groups;
        await waitScored(log, runId, total, 600_000);
        all.push(groups / ((performance.now() - t0) / 1000));
      }
      result[`consumers${m}`] = { groupsPerSecond: Number(median(all).toFixed(1)), all: all.map((x) => Number(x.toFixed(1))) };
      if (!values.json) process.stdout.write(`cluster (${nodes} node(s), R${state.replicas}): ${m} reward consumer(s): ${median(all).toFixed(1)} groups/s (median of ${reps}: ${all.map((x) => x.toFixed(1)).join(", ")})\n`);
    }
  } finally {
    await log.close();
    await down(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}
