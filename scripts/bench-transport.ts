// `npm run bench -- transport`: what it costs to get a new policy version to a generator (issue 17 item
// 2), full weights against chunks against a delta, with the delta's size measured, not assumed.
//
// Why measured: the case for a delta rests on how many bf16 values one update changes. With AdamW the
// first steps move every weight by about lr whatever its gradient, and a bf16 value changes only when
// its fp32 master crosses a rounding boundary (half an ulp: ~6e-5 at |w| = 0.02, 60 steps of lr 1e-6).
// So the density depends on where the master sits between boundaries: uniformly spread after an fp32
// random init (start "f32"), or exactly on the grid when a run starts from a published bf16 checkpoint
// (start "bf16": the same weights rounded first), where only small weights, biases and the like can move
// in the first steps. Both starts run K real GRPO updates (compute/update.ts through the native engine:
// one group of 4 random 16+32-token sequences a step, rewards 1,0,1,0, the sampler's log-probs taken from
// the policy itself, as in a synchronous step; AdamW lr 1e-6, weight decay 0.01, betas 0.9/0.95, clip
// 1.0), and after each the BF16 copy is diffed with the previous one (streams/weights-delta.ts).
//
// Then, on an embedded nats-server, the time from "the updater has the BF16 copy" to "a generator has
// it in hand", median of R reps, each rep in fresh buckets (a put of bytes a bucket holds is a no-op):
//   object          putBlob whole, getBlob whole (the read verifies the digest)
//   chunked c1 / c4 putBlob chunked (4 MiB chunks), getBlob fetching 1 / 4 chunks at once, no cache
//   chunked+cache   the next version: putBlob chunked (only changed chunks stored), getBlob through a
//                   ChunkCache that holds the previous version (what a chunked generator keeps)
//   delta           encodeDelta on the updater, putBlob of the patch, getBlob of it, applyDelta (which
//                   checks the base digest and hashes the result against the target)
// The updater and the generator are two connections of this process, run one after the other, so the
// times are the protocol's, not overlapped. Loading the bytes into a Policy is the same in every mode and
// not timed. The delta's patch is the last step's of each start (the update densities are printed, so a
// denser later step can be read off against it). Note that consumers/updater/driver.ts today stores the
// whole copy before the patch; the "delta" row counts only what the patch path needs.
//
// Flags: --shape tiny|small|0.5b (comma list; default tiny,0.5b; small is a 7.3M-parameter Qwen2 whose
//        14 MiB copy spans 4 chunks)  --steps K (4)  --reps R (3)  --json (one line)  --out FILE
// 0.5b: about 12 GiB at peak (fp32 weights, gradients and moments, 16 bytes a parameter: 7.9 GB; two
// bf16 copies and encodeDelta's copies of them: 4 GB) and 10-15 minutes on 2 cores; tiny and small take
// seconds.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseArgs } from "../cli/args.ts";
import { grpoUpdate, isLargeModel } from "../compute/update.ts";
import { pack, type StepGroup } from "../domain/grpo/batch.ts";
import { Rng } from "../domain/rng.ts";
import { AdamW, kernelSet, Policy } from "../native/index.ts";
import { parseModelConfig, resolveConfig, type Qwen2Config, type RunConfig } from "../streams/config.ts";
import { EventLog, sha256 } from "../streams/eventlog.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { applyDelta, encodeDelta } from "../streams/weights-delta.ts";
import { CHUNK_BYTES, ChunkCache } from "../streams/weights-store.ts";
import { median } from "./stats.ts";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const QWEN05B = join(root, "test", "fixtures", "qwen2.5-configs", "Qwen2.5-0.5B.config.json");
const PROMPT = 16, COMPLETION = 32, SAMPLES = 4, LR = 1e-6;

function shapeOf(name: string): Qwen2Config {
  const base = { rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true };
  if (name === "tiny") { // configs/tiny-r1-zero.yaml's model
    return parseModelConfig({ ...base, vocab_size: 104, hidden_size: 128, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 384, max_position_embeddings: 160 });
  }
  if (name === "small") {
    return parseModelConfig({ ...base, vocab_size: 16384, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 768, max_position_embeddings: 256 });
  }
  if (name === "0.5b") return parseModelConfig(JSON.parse(readFileSync(QWEN05B, "utf8")), QWEN05B);
  throw new Error(`--shape: tiny, small or 0.5b, got ${JSON.stringify(name)}`);
}

const ARCH_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "max_position_embeddings", "rope_theta", "rms_norm_eps", "tie_word_embeddings"] as const;

/** A run config for grpoUpdate: only algorithm, actor, rollout.temperature and data.max_response_length matter. */
function updateConfig(arch: Qwen2Config): RunConfig {
  return resolveConfig({
    // the run config's arch takes the fields the engine reads (a published config.json carries more)
    seed: 0, model: { name: "bench-transport", arch: Object.fromEntries(ARCH_KEYS.filter((k) => k in arch).map((k) => [k, arch[k]])) },
    tokenizer: { type: "char" }, data: { train: { synthetic: "addition" }, template: "tiny_r1", max_prompt_length: PROMPT, max_response_length: COMPLETION },
    rollout: { n_samples_per_prompt: SAMPLES, temperature: 1.0, top_p: 1.0 }, reward: { fn: "base_acc" },
    algorithm: { adv_estimator: "grpo", kl_coef: 0, clip_ratio: 0.2, loss_agg_mode: "token-mean" },
    actor: { global_batch_size: 1, micro_batch_size: SAMPLES, train_iters: 64, lr: LR, lr_schedule: "constant", weight_decay: 0.01, clip_grad: 1.0, adam_beta1: 0.9, adam_beta2: 0.95 },
  }, "bench-transport");
}

/** One group of random sequences for step `step`, with the policy's own log-probs as the sampler's (a synchronous step). */
async function groupOf(policy: Policy, step: number): Promise<StepGroup[]> {
  const V = policy.config.vocab_size, rng = new Rng(0x7a5, step);
  const prompt = Array.from({ length: PROMPT }, () => rng.int(0, V));
  const completions = Array.from({ length: SAMPLES }, () => Array.from({ length: COMPLETION }, () => rng.int(0, V)));
  const b = pack(completions.map((c, i) => ({ groupId: "g", sample: i, promptLen: PROMPT, tokens: [...prompt, ...c], logprobs: c.map(() => 0), advantage: 0 })));
  const lp = await policy.logprobs(b, 1);
  const L = PROMPT + COMPLETION;
  const samples = completions.map((c, i) => ({ index: i, seed: i, tokens: c, text: "", finish: "length",
    logprobs: Array.from(lp.subarray(i * L + PROMPT, (i + 1) * L)) }));
  return [{
    sampled: { groupId: `s${step}.g0`, slot: 0, step, prompt: { id: "p", index: 0, text: "", tokens: prompt }, samples },
    scored: { groupId: `s${step}.g0`, scores: samples.map((s) => ({ index: s.index, reward: s.index % 2 ? 0 : 1, format: 1, accuracy: s.index % 2 ? 0 : 1, outcome: "correct", extracted: null, ms: 0 })) },
  }] as unknown as StepGroup[];
}

type Kind = "embed" | "attn" | "mlp" | "bias" | "norm";
const kindOf = (name: string): Kind =>
  name.includes("norm") ? "norm" : name.endsWith(".bias") ? "bias" : name.includes("embed") || name.includes("lm_head") ? "embed" : name.includes("mlp") ? "mlp" : "attn";

/** Changed bf16 values by kind of tensor, from the safetensors header of a (the tensors' byte ranges). */
function changedByKind(a: Uint8Array, b: Uint8Array): Record<Kind, { changed: number; values: number }> {
  const n = Number(new DataView(a.buffer, a.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(a.subarray(8, 8 + n)).toString()) as Record<string, { data_offsets?: [number, number] }>;
  const words = (x: Uint8Array) => (x.byteOffset % 2 ? new Uint16Array(x.slice().buffer) : new Uint16Array(x.buffer, x.byteOffset, x.length >> 1));
  const wa = words(a), wb = words(b), data = 8 + n;
  const out = {} as Record<Kind, { changed: number; values: number }>;
  for (const [name, t] of Object.entries(header)) {
    if (!t.data_offsets) continue; // __metadata__
    const k = kindOf(name), s = (data + t.data_offsets[0]) >> 1, e = (data + t.data_offsets[1]) >> 1;
    let c = 0;
    for (let i = s; i < e; i++) if (wa[i] !== wb[i]) c++;
    const o = (out[k] ??= { changed: 0, values: 0 });
    o.changed += c; o.values += e - s;
  }
  return out;
}

type StepRow = { step: number; changed: number; density: number; patchBytes: number; fullBytes: number; patchShare: number; encodeMs: number; updateMs: number; gradNorm: number };
type Version = { bytes: Uint8Array; digest: string };
type StartResult = { start: "f32" | "bf16"; steps: StepRow[]; lastByKind: Record<Kind, { changed: number; values: number }> };
/** The last step's versions and patch: what the transport moves. */
type Pair = { base: Version; next: Version; patch: Uint8Array };

/**
 * The AdamW handle holds the model (a shared_ptr) until the garbage collector finalises it, so a disposed
 * 0.5B policy keeps its 8 GB until then; a full collection between starts lets them go before the next.
 */
const gc = (() => { setFlagsFromString("--expose-gc"); return runInNewContext("gc") as () => void; })();
async function collect(): Promise<void> { gc(); await new Promise((r) => setImmediate(r)); gc(); }

/** K GRPO updates from one start; the BF16 copy diffed after each. Keeps the last step's pair and patch. */
async function updates(arch: Qwen2Config, start: "f32" | "bf16", K: number, say: (s: string) => void): Promise<[StartResult, Pair]> {
  const cfg = updateConfig(arch);
  let policy = Policy.init(arch, 0);
  if (start === "bf16") {
    const bytes = policy.toSafetensors("bf16");
    policy.dispose();
    policy = Policy.fromSafetensors(bytes, arch);   // an fp32 master on the bf16 grid, as from a published checkpoint
  }
  const a = cfg.actor;
  const optimizer = new AdamW(policy, { beta1: a.adam_beta1, beta2: a.adam_beta2, eps: a.adam_eps, weightDecay: a.weight_decay });
  let prev: Version = (() => { const b = policy.toSafetensors("bf16"); return { bytes: b, digest: sha256(b) }; })();
  const rows: StepRow[] = [];
  let byKind: StartResult["lastByKind"] | undefined, last: Pair | undefined;
  try {
    for (let step = 0; step < K; step++) {
      const groups = await groupOf(policy, step);
      const up = await grpoUpdate({ cfg, step, policy, optimizer, reference: null, groups });
      const bytes = policy.toSafetensors("bf16");
      const next = { bytes, digest: sha256(bytes) };
      const t0 = performance.now();
      const d = encodeDelta(prev.bytes, next.bytes, { base: prev.digest, target: next.digest });   // digests known, as in the updater
      const encodeMs = performance.now() - t0;
      const density = d.header.changed / policy.numParams;
      rows.push({ step, changed: d.header.changed, density, patchBytes: d.bytes.length, fullBytes: bytes.length, patchShare: d.bytes.length / bytes.length,
        encodeMs, updateMs: up.timings.updateMs, gradNorm: up.stats.gradNorm });
      say(`    ${start} start, step ${step}: ${d.header.changed.toLocaleString("en-US")} of ${policy.numParams.toLocaleString("en-US")} bf16 values changed (${(100 * density).toFixed(3)} %), patch ${mib(d.bytes.length)} of ${mib(bytes.length)} (${(100 * d.bytes.length / bytes.length).toFixed(2)} %), encode ${encodeMs.toFixed(0)} ms; update ${up.timings.updateMs.toFixed(0)} ms, |g| ${up.stats.gradNorm.toExponential(2)}`);
      if (step === K - 1) { byKind = changedByKind(prev.bytes, next.bytes); last = { base: prev, next, patch: d.bytes }; }
      prev = next;
      if (isLargeModel(policy)) policy.releaseBuffers();   // a large model's scratch between steps, as the updater does
    }
  } finally {
    policy.dispose();   // its memory goes once the optimizer is collected too (collect())
  }
  return [{ start, steps: rows, lastByKind: byKind! }, last!];
}

type Mode = { mode: string; putMs: number; getMs: number; encodeMs: number; applyMs: number; inHandMs: number; bytesMoved: number; storedBytes: number; fetched?: number; reused?: number; chunks?: number; vsObject?: number };
const mib = (n: number) => n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

/** The transport modes for one pair (base → next) and its patch, R reps in fresh buckets; medians. */
async function transport(up: EventLog, gen: EventLog, tag: string, pair: Pair, R: number, full: boolean): Promise<Mode[]> {
  const { base, next, patch } = pair;
  const reps: Mode[][] = [];
  const time = async <T>(f: () => Promise<T>): Promise<[T, number]> => { const t = performance.now(); const x = await f(); return [x, performance.now() - t]; };
  for (let rep = 0; rep < R; rep++) {
    const ids = { obj: `bt-${process.pid}-${tag}-${rep}-obj`, chk: `bt-${process.pid}-${tag}-${rep}-chk`, dlt: `bt-${process.pid}-${tag}-${rep}-dlt` };
    for (const id of Object.values(ids)) { await up.weights(id); await gen.weights(id); }   // bucket creation is not the protocol's
    const rows: Mode[] = [];
    if (full) {
      const [d, putMs] = await time(() => up.putBlob(ids.obj, next.bytes));
      const [got, getMs] = await time(() => gen.getBlob(ids.obj, d));
      if (got.length !== next.bytes.length) throw new Error("object read: wrong size");
      rows.push({ mode: "object", putMs, getMs, encodeMs: 0, applyMs: 0, inHandMs: putMs + getMs, bytesMoved: next.bytes.length, storedBytes: next.bytes.length });
      const [d0, put0Ms] = await time(() => up.putBlob(ids.chk, base.bytes, { layout: "chunked", chunkBytes: CHUNK_BYTES, concurrency: 4 }));
      for (const c of [1, 4]) {
        const [rd, getMs] = await time(() => gen.getBlobWithStats(ids.chk, d0, { concurrency: c }));
        rows.push({ mode: `chunked c${c}`, putMs: put0Ms, getMs, encodeMs: 0, applyMs: 0, inHandMs: put0Ms + getMs, bytesMoved: rd.stats.fetchedBytes, storedBytes: base.bytes.length, chunks: rd.stats.chunks, fetched: rd.stats.fetched, reused: rd.stats.reused });
      }
    } else {
      await up.putBlob(ids.chk, base.bytes, { layout: "chunked", chunkBytes: CHUNK_BYTES, concurrency: 4 });
    }
    // the next version through a cache that holds the previous one (filled by a read not timed)
    const cache = new ChunkCache(base.bytes.length + CHUNK_BYTES);
    await gen.getBlobWithStats(ids.chk, base.digest, { cache });
    let changedChunks = 0;
    for (let o = 0; o < next.bytes.length; o += CHUNK_BYTES) if (Buffer.compare(base.bytes.subarray(o, o + CHUNK_BYTES), next.bytes.subarray(o, o + CHUNK_BYTES)) !== 0) changedChunks++;
    const [d1, put1Ms] = await time(() => up.putBlob(ids.chk, next.bytes, { layout: "chunked", chunkBytes: CHUNK_BYTES, concurrency: 4 }));
    const [rd1, get1Ms] = await time(() => gen.getBlobWithStats(ids.chk, d1, { cache, concurrency: 4 }));
    rows.push({ mode: "chunked+cache", putMs: put1Ms, getMs: get1Ms, encodeMs: 0, applyMs: 0, inHandMs: put1Ms + get1Ms, bytesMoved: rd1.stats.fetchedBytes,
      storedBytes: Math.min(next.bytes.length, changedChunks * CHUNK_BYTES), chunks: rd1.stats.chunks, fetched: rd1.stats.fetched, reused: rd1.stats.reused });
    // the delta: encode again here so each rep times it
    const te = performance.now();
    const d = encodeDelta(base.bytes, next.bytes, { base: base.digest, target: next.digest });
    const encodeMs = performance.now() - te;
    if (d.bytes.length !== patch.length) throw new Error("encodeDelta is not deterministic");
    const [pd, putMs] = await time(() => up.putBlob(ids.dlt, d.bytes));
    const [p, getMs] = await time(() => gen.getBlob(ids.dlt, pd));
    const ta = performance.now();
    const applied = applyDelta(base.bytes, p, base.digest);
    const applyMs = performance.now() - ta;
    if (applied.digest !== next.digest) throw new Error(`the patch gives ${applied.digest}, not ${next.digest}`);
    rows.push({ mode: "delta", putMs, getMs, encodeMs, applyMs, inHandMs: encodeMs + putMs + getMs + applyMs, bytesMoved: p.length, storedBytes: p.length });
    for (const id of Object.values(ids)) await (await up.weights(id)).destroy();   // the disk back before the next rep
    reps.push(rows);
    await collect();   // the rep's reads (a 0.5B copy is 1 GB each) before the next's
  }
  const modes = reps[0].map((m, i) => {
    const med = (k: keyof Mode) => median(reps.map((r) => r[i][k] as number));
    return { ...m, putMs: med("putMs"), getMs: med("getMs"), encodeMs: med("encodeMs"), applyMs: med("applyMs"), inHandMs: med("inHandMs") };
  });
  return modes;
}

function cpuName(): string {
  try { return /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown CPU"; }
  catch { return cpus()[0]?.model ?? "unknown CPU"; }
}
const rssGiB = () => process.memoryUsage.rss() / 2 ** 30;
function hwmGiB(pid: number | "self"): number {
  try { return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 2 ** 20; } catch { return NaN; }
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, { boolean: ["json"], string: ["shape", "steps", "reps", "out"] });
  const shapes = String(flags.shape ?? "tiny,0.5b").split(",").map((s) => s.trim()).filter(Boolean);
  const K = Number(flags.steps ?? 4), R = Number(flags.reps ?? 3);
  if (!Number.isInteger(K) || K < 1 || !Number.isInteger(R) || R < 1) throw new Error(`--steps and --reps must be positive integers, got ${flags.steps} and ${flags.reps}`);
  const archs = shapes.map((s) => [s, shapeOf(s)] as const);   // a bad --shape is refused before anything runs
  const cpu = cpuName();
  const say = (s: string) => { if (!flags.json) process.stdout.write(s + "\n"); };
  say(`weights transport (issue 17 item 2): ${cpu}, ${cpus().length} cores, kernels ${kernelSet()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ${K} GRPO steps a start (lr ${LR}), transports the median of ${R}`);
  const server = await startLocalServer();
  const up = await EventLog.connect(server.url, { name: "bench-transport-updater" });
  const gen = await EventLog.connect(server.url, { name: "bench-transport-generator" });
  const results: unknown[] = [];
  let memory: { selfHwmGiB: number; natsServerHwmGiB: number } | undefined;
  try {
    for (const [name, arch] of archs) {
      say(`\n${name}: vocab ${arch.vocab_size}, hidden ${arch.hidden_size}, ${arch.num_hidden_layers} layers`);
      const tag = name.replace(/[^a-z0-9]/gi, "");
      const starts: StartResult[] = [];
      const transports: Record<string, Mode[]> = {};
      for (const start of ["f32", "bf16"] as const) {
        const [r, pair] = await updates(arch, start, K, say);
        await collect();
        say(`    (resident after the ${start} start's policy and optimizer were let go: ${rssGiB().toFixed(2)} GiB)`);
        // this start's last version moved now, before the next start allocates its 16 bytes a parameter;
        // the whole-copy modes do not depend on the bytes' values: timed once, with the f32 start's
        transports[start] = await transport(up, gen, `${tag}-${start}`, pair, R, start === "f32");
        starts.push(r);
      }
      await collect();
      const object = transports.f32.find((m) => m.mode === "object")!;
      const size = object.bytesMoved;
      const rows = [...transports.f32.map((m) => ({ ...m, mode: m.mode === "delta" || m.mode === "chunked+cache" ? `${m.mode} (f32 start)` : m.mode })),
        ...transports.bf16.map((m) => ({ ...m, mode: `${m.mode} (bf16 start)` }))].map((m) => ({ ...m, vsObject: m.inHandMs / object.inHandMs }));
      say(`  BF16 copy ${mib(size)}; object put ${(size / 2 ** 20 / (object.putMs / 1000)).toFixed(0)} MiB/s, get ${(size / 2 ** 20 / (object.getMs / 1000)).toFixed(0)} MiB/s`);
      say(`  ${"mode".padEnd(26)} ${"moved".padStart(10)} ${"stored".padStart(10)} ${"encode".padStart(8)} ${"put".padStart(8)} ${"get".padStart(8)} ${"apply".padStart(8)} ${"in hand".padStart(9)} ${"vs object".padStart(9)}  chunks fetched/reused`);
      for (const m of rows) {
        const ms = (x: number) => (x === 0 ? "-" : `${x.toFixed(x < 10 ? 1 : 0)} ms`).padStart(8);
        say(`  ${m.mode.padEnd(26)} ${mib(m.bytesMoved).padStart(10)} ${mib(m.storedBytes).padStart(10)} ${ms(m.encodeMs)} ${ms(m.putMs)} ${ms(m.getMs)} ${ms(m.applyMs)} ${ms(m.inHandMs).padStart(9)} ${m.vsObject.toFixed(3).padStart(8)}x  ${m.chunks !== undefined ? `${m.fetched}/${m.reused} of ${m.chunks}` : ""}`);
      }
      for (const s of starts) {
        const kinds = Object.entries(s.lastByKind).map(([k, v]) => `${k} ${(100 * v.changed / v.values).toFixed(2)} %`).join(", ");
        say(`  ${s.start} start, last step by tensor kind: ${kinds}`);
      }
      results.push({ shape: name, arch, fullBytes: size, starts: starts.map((s) => ({ start: s.start, steps: s.steps, lastByKind: s.lastByKind })), transport: rows });
    }
  } finally {
    await up.close();
    await gen.close();
    const serverHwm = hwmGiB(server.pid);
    await server.stop();
    memory = { selfHwmGiB: +hwmGiB("self").toFixed(2), natsServerHwmGiB: +serverHwm.toFixed(2) };
    say(`\npeak memory (high-water marks): this process ${memory.selfHwmGiB.toFixed(2)} GiB, nats-server ${memory.natsServerHwmGiB.toFixed(2)} GiB`);
  }
  const out = { cpu, cores: cpus().length, kernels: kernelSet(), steps: K, reps: R, lr: LR, batch: { prompts: 1, samples: SAMPLES, promptTokens: PROMPT, completionTokens: COMPLETION },
    shapes: results, memory };
  if (flags.json) process.stdout.write(JSON.stringify(out) + "\n");
  if (flags.out) writeFileSync(String(flags.out), JSON.stringify(out, null, 2) + "\n");
  return 0;
}
