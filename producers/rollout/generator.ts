// The rollout generator: pulls RolloutRequested tasks (work queue, shared by any number of
// generators), loads the named policy version from the object store (cached by digest, verified),
// samples n completions per prompt through the native engine and publishes one GroupSampled per prompt.
import { hostname } from "node:os";
import type { Logger } from "pino";
import { kernelSet, Policy, type Qwen2Config, type WeightDtype } from "../../native/index.ts";
import { chunkCacheBytes } from "../../native/memory.ts";
import { computeDtype, frozenDtype } from "../../streams/config.ts";
import type { PromptRow } from "../../loaders/datasets.ts";
import { applyStops, responseText } from "../../domain/stops.ts";
import type { Tokenizer } from "../../loaders/tokenizer.ts";
import { PoisonMessageError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import type { GroupSampled, RolloutRequested, WeightsPatch } from "../../streams/events/index.ts";
import { applyDelta } from "../../streams/weights-delta.ts";
import { ChunkCache } from "../../streams/weights-store.ts";
import { failpoint } from "../../streams/failpoint.ts";
import { childLogger } from "../../streams/logger.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { TASK_STREAM } from "../../streams/subjects.ts";

export const ROLLOUT_DURABLE = "rollout";

/** The dataset rows a task names, by index; a v2 task names each by id too, and another row there is refused. */
export function rowsOfTask<R extends { id: string }>(task: RolloutRequested, rows: readonly R[]): R[] {
  return task.prompts.map((p) => {
    const row = rows[p.index];
    if (!row) throw new PoisonMessageError(`task ${task.taskId} names prompt index ${p.index}, the dataset has ${rows.length} rows`);
    // another row at that index: this worker's dataset is not the updater's (a v1 task recorded no id: null)
    if (p.promptId !== null && p.promptId !== row.id) throw new PoisonMessageError(`task ${task.taskId} names prompt ${JSON.stringify(p.promptId)} at index ${p.index}, this worker's dataset has ${JSON.stringify(row.id)} there`);
    return row;
  });
}

/** Pure core: the GroupSampled events of a task, given the sampled rows (prompt-major, n per prompt). */
export function groupsOfTask(task: RolloutRequested, rows: PromptRow[], results: { tokens: Int32Array; logprobs: Float32Array; finish: "stop" | "length" }[],
  tok: Tokenizer, generator: string, ms: number, kernels: string): GroupSampled[] {
  const n = task.samplesPerPrompt;
  const stops = new Set(task.sampler.stopTokenIds);
  return task.prompts.map((p, i) => ({
    type: "GroupSampled", v: 2, runId: task.runId, groupId: p.groupId, slot: p.slot, taskId: task.taskId, step: task.step,
    policyVersion: task.policyVersion,
    prompt: { id: rows[i].id, index: p.index, text: rows[i].text, tokens: rows[i].tokens },
    gold: rows[i].answer, sampler: task.sampler,
    samples: Array.from({ length: n }, (_, j) => {
      const r = results[i * n + j];
      return { index: j, seed: p.seed + j, tokens: Array.from(r.tokens), text: responseText(r, tok, stops), logprobs: Array.from(r.logprobs), finish: r.finish };
    }),
    generator, ms, kernels,
  }));
}

/**
 * How a version's weights reached this generator: read whole, as a patch on the version before, or as
 * chunks (fetched, or reused from the chunks of the versions read before). bytes: what came over the bus.
 */
export type WeightsLoad = {
  digest: string; via: "full" | "delta" | "chunked"; bytes: number; ms: number; fallback?: string;
  chunks?: { total: number; fetched: number; reused: number; reusedBytes: number; maxInFlight: number };
};

export class PolicyCache {
  private entries: { digest: string; policy: Policy }[] = [];
  // runtime.weights_transport delta: the last version's bytes, the base of the next patch
  private last: { digest: string; bytes: Uint8Array } | null = null;
  // runtime.weights_transport chunked: the chunks of the versions read, so the next reads only those that changed
  private chunks: ChunkCache | null = null;
  readonly loads: WeightsLoad[] = [];
  constructor(private log: EventLog, private capacity = 2, private lg?: Logger) {}
  /**
   * The policy of a digest, from the cache, or read: as `patch` on the version this cache holds when it holds
   * the patch's base (runtime.weights_transport delta), else whole. keepBase: keep the bytes read as the base
   * of the next patch (a delta run). chunked: read through a chunk cache of about one copy of the weights
   * (a chunked run).
   */
  async get(runId: string, digest: string, config: Qwen2Config, dtype: WeightDtype = "f32", o: { patch?: WeightsPatch; keepBase?: boolean; chunked?: boolean } = {}): Promise<Policy> {
    const patch = o.patch;
    const hit = this.entries.find((e) => e.digest === digest);
    if (hit) return hit.policy;
    const t0 = performance.now();
    let bytes: Uint8Array | undefined, load: WeightsLoad | undefined, fallback: string | undefined;
    if (patch && this.last?.digest === patch.base) {
      try {
        const p = await this.log.getBlob(runId, patch.patch);      // verified against its digest
        const applied = applyDelta(this.last.bytes, p, patch.base);  // verified against the patch's target
        if (applied.digest === digest) { bytes = applied.bytes; load = { digest, via: "delta", bytes: p.length, ms: performance.now() - t0 }; }
        else fallback = `the patch gives ${applied.digest}, the task names ${digest}`;
      } catch (err) {
        fallback = (err as Error).message;   // any failure of the patch path: read the weights whole
        bytes = undefined;
      }
    } else if (patch) {
      fallback = this.last ? `holds ${this.last.digest}, the patch's base is ${patch.base}` : "no base held";
    }
    if (!bytes && o.chunked) {
      this.chunks ??= new ChunkCache(chunkCacheBytes(config, dtype));
      const r = await this.log.getBlobWithStats(runId, digest, { cache: this.chunks });   // each chunk and the whole verified
      bytes = r.bytes;
      const s = r.stats;
      load = { digest, via: s.layout === "chunked" ? "chunked" : "full", bytes: s.fetchedBytes, ms: performance.now() - t0,
        ...(s.layout === "chunked" ? { chunks: { total: s.chunks, fetched: s.fetched, reused: s.reused, reusedBytes: s.reusedBytes, maxInFlight: s.maxInFlight } } : {}) };
    }
    if (!bytes) {
      bytes = await this.log.getBlob(runId, digest); // verified against the digest
      load = { digest, via: "full", bytes: bytes.length, ms: performance.now() - t0, ...(fallback ? { fallback } : {}) };
    }
    this.loads.push(load!);
    // a delta or chunked run's loads are worth a line each (which path, why a fallback, what was reused); a full run's are routine
    if (o.keepBase || patch || o.chunked) this.lg?.info({ run: runId, ...load }, "weights loaded");
    else this.lg?.debug({ run: runId, ...load }, "weights loaded");
    this.last = o.keepBase ? { digest, bytes } : null;
    const policy = Policy.fromSafetensors(bytes, config, dtype);  // model.dtype bf16: a bf16 copy (the blob is BF16)
    this.entries.unshift({ digest, policy });
    for (const old of this.entries.splice(this.capacity)) old.policy.dispose();
    return policy;
  }
  dispose(): void { for (const e of this.entries.splice(0)) e.policy.dispose(); this.chunks = null; this.last = null; }
}

export type GeneratorOptions = { signal: AbortSignal; name?: string; log?: Logger; ackWaitMs?: number };

export async function runGenerator(log: EventLog, o: GeneratorOptions): Promise<{ tasks: number; groups: number }> {
  const name = o.name ?? `rollout@${hostname()}:${process.pid}`;
  const lg = o.log ?? childLogger({ role: "rollout", worker: name });
  const contexts = new RunContexts(log);
  const policies = new PolicyCache(log, 2, lg);
  const counts = { tasks: 0, groups: 0 };
  try {
    await log.consume({
      stream: TASK_STREAM, durable: ROLLOUT_DURABLE, filterSubject: "zst.>", types: ["RolloutRequested"],
      ackWaitMs: o.ackWaitMs ?? 60_000, maxDeliver: 10, maxInFlight: 1, signal: o.signal, log: lg,
    }, async (task) => {
      const t0 = performance.now();
      const rc = await contexts.get(task.runId);
      const ds = await rc.dataset();
      const rows = rowsOfTask(task, ds.rows);
      const policy = await policies.get(task.runId, task.weightsDigest, rc.modelConfig, frozenDtype(rc.config),
        { patch: task.weightsPatch, keepBase: rc.config.runtime.weights_transport === "delta", chunked: rc.config.runtime.weights_transport === "chunked" });
      policy.withCompute(computeDtype(rc.config));   // model.compute_dtype (the cache is keyed by weights only)
      const n = task.samplesPerPrompt;
      const tSample = performance.now();
      const results = await policy.sample({
        prompts: rows.flatMap((r) => Array.from({ length: n }, () => Int32Array.from(r.tokens))),
        seeds: task.prompts.flatMap((p) => Array.from({ length: n }, (_, j) => p.seed + j)),
        temperature: task.sampler.temperature, topP: task.sampler.topP, topK: task.sampler.topK,
        maxNewTokens: task.sampler.maxNewTokens, stopTokenIds: task.sampler.stopTokenIds,
      });
      const ms = (performance.now() - tSample) / task.prompts.length; // sampling only: loading weights is bus time
      const tok = rc.tokenizer();
      const stops = rc.config.rollout.stop;
      // the first group, then the rest concurrently (consumers key groups by id, not by order)
      const [first, ...rest] = groupsOfTask(task, rows, results.map((r) => applyStops(r, tok, stops)), tok, name, ms, kernelSet());
      await log.publish(first);
      failpoint("rollout.mid-task", task.step);   // some groups of the task published, not all
      await Promise.all(rest.map((g) => log.publish(g)));
      counts.groups += 1 + rest.length;
      counts.tasks++;
      lg.debug({ run: task.runId, task: task.taskId, ms: Math.round(performance.now() - t0) }, "task sampled");
    });
  } finally {
    policies.dispose();
  }
  return counts;
}
