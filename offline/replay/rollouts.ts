// --verify-rollouts: sampling is a pure function of the weights, the prompt, the seed and the sampler
// settings (on the same kernel set), so a group can be checked by sampling it again. A seeded fraction
// of the run's groups is chosen (the choice is a function of the seed and the group ids: recorded by
// printing both), and each chosen GroupSampled is checked against what the run's schedule says it must
// be (its prompt: the dataset row the step's slot selects; its seeds: the slot's seed + j) and then
// re-sampled with the weights of its policy version, bit for bit: tokens, log-probs (as float32),
// finish and text. Every group that does not reproduce is named with the first difference.
// Limits: the sampler settings are taken from the event (the task that carried them is not in the log).
// Each group records the kernel set that sampled it; every set of this engine computes the same bits
// (native/index.ts sameBits), so any machine can re-sample any group a known set sampled.
import { KERNEL_SETS, kernelSet, sameBits, Policy } from "../../native/index.ts";
import { runPolicy } from "../../compute/policy.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog, Replayed } from "../../streams/eventlog.ts";
import type { GroupSampled } from "../../streams/events/index.ts";
import { Rng } from "../../domain/rng.ts";
import { promptOfSlot } from "../../domain/grpo/schedule.ts";
import { foldRun, sampledGroups } from "../../domain/run/view.ts";
import { applyStops } from "../../domain/stops.ts";
import { RunContexts } from "../../loaders/runctx.ts";

export class VerifyRolloutsError extends ZeroStreamError {}

export type RolloutMismatch = { groupId: string; seq: number; generator: string; what: "kernels" | "prompt" | "seed" | "weights" | "tokens" | "logprobs" | "finish" | "text"; message: string };
/** elsewhere: chosen groups sampled under another kernel set this code knows, which cannot be re-sampled bit for bit here. */
export type RolloutReport = { seed: number; fraction: number; total: number; chosen: string[]; mismatches: RolloutMismatch[]; elsewhere: { groupId: string; kernels: string }[]; ms: number };
export type RolloutOptions = { fraction?: number; seed?: number; events?: Replayed[]; onGroup?: (groupId: string, ok: boolean) => void };

/** The chosen groups: a seeded shuffle of the sorted ids, the first ceil(fraction × n). Pure. */
export function chooseGroups(ids: string[], fraction: number, seed: number): string[] {
  if (!(fraction > 0 && fraction <= 1)) throw new VerifyRolloutsError(`--fraction must be in (0, 1], got ${fraction}`);
  const sorted = [...ids].sort();
  new Rng(seed, 0x70c1).shuffle(sorted);
  return sorted.slice(0, Math.ceil(fraction * sorted.length)).sort();
}

const f32 = (x: number) => Math.fround(x);

/** The first difference between a recorded sample and a re-sampled one (tokens, log-probs, finish, text). */
function compareSample(g: GroupSampled, j: number, r: { tokens: Int32Array; logprobs: Float32Array; finish: string }, text: string): Pick<RolloutMismatch, "what" | "message"> | null {
  const s = g.samples[j];
  const n = Math.max(s.tokens.length, r.tokens.length);
  for (let i = 0; i < n; i++) {
    if (s.tokens[i] !== r.tokens[i]) return { what: "tokens", message: `sample ${j} token ${i}: recorded ${s.tokens[i] ?? "(none)"}, re-sampled ${r.tokens[i] ?? "(none)"}` };
  }
  for (let i = 0; i < n; i++) {
    // the engine's log-probs are float32; the event holds them as the doubles that represent them exactly
    if (s.logprobs[i] !== r.logprobs[i] || f32(s.logprobs[i]) !== s.logprobs[i]) return { what: "logprobs", message: `sample ${j} log-prob ${i}: recorded ${s.logprobs[i]}, re-sampled ${r.logprobs[i]}` };
  }
  if (s.finish !== r.finish) return { what: "finish", message: `sample ${j}: recorded finish ${s.finish}, re-sampled ${r.finish}` };
  if (s.text !== text) return { what: "text", message: `sample ${j}: recorded text ${JSON.stringify(s.text.slice(0, 60))}, re-sampled ${JSON.stringify(text.slice(0, 60))}` };
  return null;
}

export async function verifyRollouts(log: EventLog, runId: string, o: RolloutOptions = {}): Promise<RolloutReport> {
  const t0 = performance.now();
  const events = o.events ?? (await log.replayAll(runId));
  const v = foldRun(events);
  const started = v.started?.event;
  const sampled = new Map(sampledGroups(v).map((g) => [g.event.groupId, { seq: g.seq, e: g.event }]));
  if (!started) throw new VerifyRolloutsError(`run ${runId}: the log has no RunStarted event`);
  const fraction = o.fraction ?? 0.1, seed = o.seed ?? 0;
  const chosen = chooseGroups([...sampled.keys()], fraction, seed);
  const report: RolloutReport = { seed, fraction, total: sampled.size, chosen, mismatches: [], elsewhere: [], ms: 0 };
  const cfg = v.config!;
  const rc = await new RunContexts(log).get(runId);
  const ds = await rc.dataset();
  const tok = rc.tokenizer();
  const policies = new Map<string, Policy>();
  const policyOf = async (digest: string) => {
    let p = policies.get(digest);
    if (!p) { p = runPolicy(await log.getBlob(runId, digest), rc.modelConfig, cfg, "frozen"); policies.set(digest, p); }
    return p;
  };
  try {
    for (const id of chosen) {
      const { seq, e: g } = sampled.get(id)!;
      const fail = (m: Pick<RolloutMismatch, "what" | "message">) => { report.mismatches.push({ groupId: id, seq, generator: g.generator, ...m }); o.onGroup?.(id, false); };
      if (g.kernels !== undefined && !KERNEL_SETS.includes(g.kernels)) { fail({ what: "kernels", message: `recorded kernel set ${JSON.stringify(g.kernels)} is none this engine has (${KERNEL_SETS.join(", ")})` }); continue; }
      if (g.kernels !== undefined && !sameBits(g.kernels, kernelSet())) { report.elsewhere.push({ groupId: id, kernels: g.kernels }); continue; }
      const slot = promptOfSlot(cfg, ds.rows.length, g.step, g.slot);   // a fill round's slot too (dynamic sampling)
      const row = slot ? ds.rows[slot.index] : undefined;
      if (!slot || !row || g.prompt.index !== slot.index || g.prompt.tokens.join() !== row.tokens.join() || g.gold !== row.answer) {
        fail({ what: "prompt", message: `step ${g.step} slot ${g.slot} selects dataset row ${slot?.index}; the group holds row ${g.prompt.index}${row && g.prompt.index === slot?.index ? " with other tokens or gold" : ""}` });
        continue;
      }
      const bad = g.samples.findIndex((s, j) => s.index !== j || s.seed !== slot.seed + j);
      if (bad !== -1) { fail({ what: "seed", message: `sample ${bad}: seed ${g.samples[bad].seed}, the schedule gives ${slot.seed + bad}` }); continue; }
      // the run's versions from its fold: the initial weights (a fork's at its parent's version) and every update's,
      // as generators load them (model.dtype bf16: the BF16 copy)
      const digest = v.serving.get(g.policyVersion);
      if (!digest) { fail({ what: "weights", message: `policy version ${g.policyVersion} has no weights in the log` }); continue; }
      const policy = await policyOf(digest);
      const n = g.samples.length;
      const results = await policy.sample({
        prompts: Array.from({ length: n }, () => Int32Array.from(g.prompt.tokens)), seeds: g.samples.map((s) => s.seed),
        temperature: g.sampler.temperature, topP: g.sampler.topP, topK: g.sampler.topK, maxNewTokens: g.sampler.maxNewTokens, stopTokenIds: g.sampler.stopTokenIds,
      });
      const stops = new Set(g.sampler.stopTokenIds);
      let first: Pick<RolloutMismatch, "what" | "message"> | null = null;
      for (let j = 0; j < n && !first; j++) {
        const r = applyStops(results[j], tok, cfg.rollout.stop);
        const toks = Array.from(r.tokens);
        const body = r.finish === "stop" && toks.length && stops.has(toks[toks.length - 1]) ? toks.slice(0, -1) : toks;
        first = compareSample(g, j, r, tok.decode(body));
      }
      if (first) fail(first); else o.onGroup?.(id, true);
    }
    return report;
  } finally {
    report.ms = performance.now() - t0;
    for (const p of policies.values()) p.dispose();
  }
}
