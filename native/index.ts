// Typed wrapper over the native policy engine (native/build/Release/zerostream_native.node).
// Every long call returns a Promise (an AsyncWorker off the event loop). Output buffers are
// allocated here and filled in place by the engine.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { INIT_STD, type Qwen2Config } from "../streams/config.ts";
import { inspectCheckpoint, type WeightDtype } from "./checkpoint.ts";

// The model config is the schema's type (streams/config.ts Qwen2Config): the binding reads its fields by
// their config.json names, so no second shape exists to drift from it.
export type { Qwen2Config };
export type SeqBatch = { tokens: Int32Array; seqLens: Int32Array };
/** oldLogprobs: μ, the sampler's log-probs; proxLogprobs: π_prox, the log-probs of the step's starting weights
 * (needed by every offPolicy but none). */
export type TrainBatch = SeqBatch & {
  lossMask: Float32Array; advantages?: Float32Array; oldLogprobs?: Float32Array; refLogprobs?: Float32Array;
  proxLogprobs?: Float32Array;
};
/** The importance correction of the policy term (DESIGN.md "Off-policy steps"; native/core/train.h OffPolicy). */
export type OffPolicy = "none" | "decoupled" | "tis" | "mis";
export type LossSpec =
  | { kind: "ce"; globalTokens: number }
  | { kind: "grpo"; clipLow: number; clipHigh: number; klCoef: number; klEstimator: "k1" | "k2" | "k3";
      aggregation: "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
      temperature: number; globalTokens: number; globalSeqs: number; maxResponseLength: number;
      /** absent: none. behavWeightCap is read by decoupled (default 5), tisCap by tis (2), misLow/misHigh by mis ([0.5, 2]). */
      offPolicy?: OffPolicy; behavWeightCap?: number; tisCap?: number; misLow?: number; misHigh?: number;
      /** loss -= entropyCoef * (the entropy aggregated as the policy term); absent: 0 */
      entropyCoef?: number };
/**
 * loss = pgLoss + klCoef * klLoss - entropyCoef * entropyLoss (this micro-batch's share of the batch objective);
 * the rest are raw sums over its loss tokens: of the importance weight w (wSum, wMax; wTruncated: tokens whose
 * π_prox/μ was above the cap or C; wMasked: tokens with w = 0), and of the sampler–trainer mismatch with
 * ρ = π_prox/μ (π_prox = this forward's log-probs when no proxLogprobs were given): mismatchK3Sum = Σ ρ − 1 − log ρ,
 * mismatchMaxGap = max |μ − π_prox| in probability.
 */
export type LossStats = { loss: number; pgLoss: number; klLoss: number;
  tokens: number; klSum: number; entropySum: number; clipCount: number; ratioMax: number;
  entropyLoss: number; wSum: number; wMax: number; wTruncated: number; wMasked: number;
  mismatchK3Sum: number; mismatchMaxGap: number };
const LOSS_STATS = ["loss", "pgLoss", "klLoss", "tokens", "klSum", "entropySum", "clipCount", "ratioMax",
  "entropyLoss", "wSum", "wMax", "wTruncated", "wMasked", "mismatchK3Sum", "mismatchMaxGap"] as const satisfies readonly (keyof LossStats)[];
export type SampleRequest = { prompts: Int32Array[]; seeds: number[]; temperature: number; topP: number; topK: number;
  maxNewTokens: number; stopTokenIds: number[] };
export type SampleResult = { tokens: Int32Array; logprobs: Float32Array; finish: "stop" | "length" };
/**
 * WeightDtype (native/checkpoint.ts) of weights in memory: "f32", or "bf16" — a frozen copy (a reference model,
 * a generator's policy) whose every tensor is the fp32 value rounded to bf16 (nearest, ties to even), computed
 * on in fp32: the same bits as an fp32 model holding those rounded values, in half the memory. It cannot train.
 */
export type { WeightDtype };
/** The precision of the products (Policy.computeDtype, model.compute_dtype). */
export type ComputeDtype = "f32" | "bf16";
export type TensorEntry = { name: string; shape: number[]; offset: number; numel: number; decay: boolean };

type Handle = object;
/* eslint-disable @typescript-eslint/no-explicit-any */
const here = dirname(fileURLToPath(import.meta.url));
export const addonPath = join(here, "build", "Release", "zerostream_native.node");
let addon: any;

/** The engine is built for x86-64-v3 (AVX2 + FMA + BMI2 + F16C), its AVX-512 GEMM kernels picked at run time
 * where the CPU has them (kernelSet()); an older CPU would die with SIGILL inside the addon, so it is refused
 * here with its name. */
export function checkCpu(cpuinfo?: string): void {
  if (process.arch !== "x64") {
    throw new Error(`the native engine needs an x86-64 CPU (AVX2 + FMA); this is ${process.arch}`);
  }
  const cpu = cpuInfo(cpuinfo);
  if (!cpu || cpu.flags.size === 0) return;  // not Linux, or no flags line: let the loader decide
  const missing = ["avx2", "fma", "bmi2", "f16c"].filter((f) => !cpu.flags.has(f));
  if (missing.length) throw new Error(`the native engine needs x86-64-v3 (AVX2, FMA, BMI2, F16C); ${cpu.model ?? "this CPU"} lacks ${missing.join(", ")}`);
}

/** The CPU's model name and feature flags, from /proc/cpuinfo or the text given; null where there is none. */
export function cpuInfo(cpuinfo?: string): { model: string | undefined; flags: Set<string> } | null {
  let info = cpuinfo;
  if (info === undefined) {
    try { info = readFileSync("/proc/cpuinfo", "utf8"); } catch { return null; }
  }
  return {
    model: /^model name\s*:(.*)$/m.exec(info)?.[1]?.trim(),
    flags: new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? "").trim().split(/\s+/).filter(Boolean)),
  };
}

function native(): any {
  if (!addon) {
    checkCpu();
    try {
      addon = createRequire(import.meta.url)(addonPath);
    } catch (err) {
      throw new Error(`native engine not built (${addonPath}): run npm run build:native`, { cause: err });
    }
  }
  return addon;
}

/**
 * The kernel sets (native/core/kernelset.h), chosen at run time from the CPU, or forced with ZS_KERNELS=avx2 |
 * avx512 | avx512-bf16 (a set the CPU lacks, or an unknown name, is refused at the first call, naming it):
 * - `x86-64-v3/avx2-fma`: the 6x16 ymm FMA micro-kernel; compute bf16 emulated (bf16-rounded operands, fp32 FMAs).
 * - `x86-64-v4/avx512-fma`: a 6x32 zmm micro-kernel, the same FMA chain per output: the same bits.
 * - `x86-64-v4/avx512-bf16`: avx512, with compute bf16 on `vdpbf16ps`. The pairs are laid out so that the
 *   instruction adds k's product before k+1's, each rounded (its definition), which is the FMA chain; the
 *   emulating sets flush subnormals (MXCSR FTZ + DAZ) while computing bf16, as the instruction does: the same bits.
 * So every set computes the same bits, compute f32 and bf16 (native/test kernel_sets_agree; the digest test
 * checks its pin under each set this CPU has). Recorded with every GroupSampled.
 */
export const KERNEL_SET_NAMES: Readonly<Record<string, string>> = {
  avx2: "x86-64-v3/avx2-fma", avx512: "x86-64-v4/avx512-fma", "avx512-bf16": "x86-64-v4/avx512-bf16",
};
/** The avx2 set, the one every x86-64-v3 machine runs. */
export const KERNEL_SET = KERNEL_SET_NAMES.avx2;
/** Every kernel set an engine of this code can run (a group recorded under another is forged or foreign). */
export const KERNEL_SETS: readonly string[] = Object.values(KERNEL_SET_NAMES);
/** Whether results of two kernel sets are the same bits: every set of this engine computes the same ones. */
export function sameBits(a: string, b: string): boolean { return KERNEL_SETS.includes(a) && KERNEL_SETS.includes(b); }
/** The set this process runs (ZS_KERNELS or the CPU's best), e.g. `x86-64-v4/avx512-bf16`. */
export function kernelSet(): string { return KERNEL_SET_NAMES[native().kernelSet() as string]; }
/** The sets this CPU can run, by their ZS_KERNELS names (avx2 first). */
export function kernelSetsSupported(): string[] { return native().kernelSetsSupported(); }
/** Switch the set between calls (tests and benchmarks; never while an engine call is running). */
export function setKernelSet(name: "avx2" | "avx512" | "avx512-bf16"): void { native().kernels.setKernelSet(name); }

export function setThreads(n: number): void { native().setThreads(n); }
export function getThreads(): number { return native().getThreads(); }
/** Rows of logits the engine holds at once in log-probs and training (0: automatic, about 16 M floats).
 * The results do not depend on it, bit for bit; tests force small chunks to show it. */
export function setLogitChunkRows(rows: number): void { native().setLogitChunkRows(rows); }
/** Items the pool's workers (not the calling threads) have run since the process started: it grows only
 * when a call really ran on more than one thread. */
export function poolWorkerItems(): number { return native().poolWorkerItems(); }

export type PoolStressResult = {
  calls: number; items: number; missing: number; duplicate: number; outOfRange: number; late: number; badTid: number;
};
/** The thread-pool stress of native/test on a libuv thread: call several at once to have concurrent callers. */
export function poolStress(seed: number, millis: number, maxCalls: number, maxN: number): Promise<PoolStressResult> {
  return native().poolStress(seed, millis, maxCalls, maxN);
}
/** Single-kernel entry points (optimised vs _ref twin), for tests. */
export function kernels(): any { return native().kernels; }

function sumLens(l: Int32Array): number { let s = 0; for (const x of l) s += x; return s; }

export class Policy {
  private h: Handle | null;
  readonly config: Qwen2Config;
  readonly numParams: number;

  private constructor(h: Handle, config: Qwen2Config) {
    this.h = h;
    this.config = { ...config, head_dim: config.head_dim ?? config.hidden_size / config.num_attention_heads };
    this.numParams = native().numParams(h);
  }
  private get handle(): Handle {
    if (!this.h) throw new Error("policy was disposed");
    return this.h;
  }

  /** Deterministic random init: N(0, initStd) weights from a counter-based RNG, zero biases, unit norms. */
  static init(config: Qwen2Config, seed: number, initStd = INIT_STD): Policy {
    return new Policy(native().create(config, seed, initStd), config);
  }
  /** F32/BF16/F16 safetensors bytes; dtype "bf16" makes a frozen bf16 copy (what is not BF16 is rounded). */
  static fromSafetensors(bytes: Uint8Array, config: Qwen2Config, dtype: WeightDtype = "f32"): Policy {
    return new Policy(native().fromBytes(config, bytes, dtype), config);
  }
  /**
   * A model folder as published (native/checkpoint.ts): config.json and model.safetensors, or the shards of
   * model.safetensors.index.json; F32, BF16 or F16 (upcast to the fp32 master weights). The config and every
   * tensor's name, shape and dtype are checked first (CheckpointError naming the tensor); the files are
   * mapped into memory, not read whole.
   */
  static async load(dir: string, dtype: WeightDtype = "f32"): Promise<Policy> {
    const ck = inspectCheckpoint(dir);
    return new Policy(await native().loadFile(ck.config, ck.files.length === 1 ? ck.files[0] : ck.files, dtype), ck.config);
  }
  /** The dtype of the weights in memory. */
  get dtype(): WeightDtype { return native().dtype(this.handle); }
  /**
   * The precision of the linear layers' products (the LM head included) in forward, backward and sampling
   * (model.compute_dtype): "f32", or "bf16" — every operand rounded to bf16 (nearest even), fp32 accumulation;
   * weights, norms, attention, softmax, loss and optimizer stay fp32. On this kernel set bf16 is emulated
   * (exact products of the rounded values), so its bits are the fp32 kernel's on rounded operands.
   * A setting of this policy (clones keep it), not of its weights: digests do not depend on it.
   */
  get computeDtype(): ComputeDtype { return native().compute(this.handle); }
  /** Sets computeDtype; returns this policy. */
  withCompute(compute: ComputeDtype): this { native().setCompute(this.handle, compute); return this; }
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const cfg = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_act: "silu", torch_dtype: this.dtype === "bf16" ? "bfloat16" : "float32", ...this.config };
    await writeFile(join(dir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
    await writeFile(join(dir, "model.safetensors"), this.toSafetensors());
  }
  /**
   * Canonical safetensors bytes (same weights, same bytes), F32 or BF16; by default in the policy's own dtype.
   * BF16 from an fp32 policy rounds to nearest even: the bytes of its bf16 copy.
   */
  toSafetensors(dtype: WeightDtype = this.dtype): Uint8Array { return native().toBytes(this.handle, dtype); }
  /** Frees the activations and scratch the last call left (kept for the next call of the same size otherwise). */
  releaseBuffers(): void { native().releaseBuffers(this.handle); }
  /** sha256 of toSafetensors(dtype): an fp32 policy's "bf16" digest is its bf16 copy's digest. */
  digest(dtype: WeightDtype = this.dtype): string { return "sha256:" + createHash("sha256").update(this.toSafetensors(dtype)).digest("hex"); }
  /** A copy, in the same dtype or another: to "bf16" rounds to nearest even, to "f32" widens exactly. */
  clone(dtype?: WeightDtype): Policy { return new Policy(native().clone(this.handle, dtype), this.config); }
  tensorTable(): TensorEntry[] { return native().table(this.handle); }
  /** Copies of the flat parameter / gradient buffers (tensor-table order). */
  params(): Float32Array { return native().copyParams(this.handle, 0); }
  grads(): Float32Array { return native().copyParams(this.handle, 1); }
  setParams(p: Float32Array): void { native().setParams(this.handle, p); }

  async forward(b: SeqBatch): Promise<Float32Array> {
    const out = new Float32Array(sumLens(b.seqLens) * this.config.vocab_size);
    await native().forward(this.handle, b.tokens, b.seqLens, out);
    return out;
  }
  async logprobs(b: SeqBatch, temperature = 1): Promise<Float32Array> {
    const out = new Float32Array(sumLens(b.seqLens));
    await native().logprobs(this.handle, b.tokens, b.seqLens, temperature, out);
    return out;
  }
  zeroGrad(): void { native().zeroGrad(this.handle); }
  async accumulate(b: TrainBatch, loss: LossSpec): Promise<LossStats> {
    const s = new Float64Array(LOSS_STATS.length);
    await native().accumulate(this.handle, b.tokens, b.seqLens, b.lossMask, b.advantages, b.oldLogprobs, b.refLogprobs,
      b.proxLogprobs, loss, s);
    return Object.fromEntries(LOSS_STATS.map((k, i) => [k, s[i]])) as LossStats;
  }
  async sample(req: SampleRequest): Promise<SampleResult[]> {
    const R = req.prompts.length;
    if (req.seeds.length !== R) throw new TypeError(`expected ${R} seeds (one per prompt row), got ${req.seeds.length}`);
    const lens = Int32Array.from(req.prompts, (p) => p.length);
    const flat = new Int32Array(sumLens(lens));
    let at = 0;
    for (const p of req.prompts) { flat.set(p, at); at += p.length; }
    const M = req.maxNewTokens;
    const toks = new Int32Array(R * M), lps = new Float32Array(R * M), outLens = new Int32Array(R), fin = new Int32Array(R);
    await native().sample(this.handle, flat, lens, Float64Array.from(req.seeds), req, Int32Array.from(req.stopTokenIds),
      toks, lps, outLens, fin);
    return Array.from({ length: R }, (_, r) => ({
      tokens: toks.slice(r * M, r * M + outLens[r]),
      logprobs: lps.slice(r * M, r * M + outLens[r]),
      finish: fin[r] === 0 ? "stop" : "length",
    }));
  }
  dispose(): void {
    if (this.h) native().dispose(this.h);
    this.h = null;
  }
  /** @internal */ nativeHandle(): Handle { return this.handle; }
}

const ADAM_MAGIC = "ZSADAMW1";

/** Bytes of a given size read in slices: read(offset, out) fills out with bytes [offset, offset + out.length). */
export type ByteSource = { size: number; read(offset: number, out: Uint8Array): void };

export class AdamW {
  private a: Handle;
  constructor(policy: Policy, o: { beta1: number; beta2: number; eps: number; weightDecay: number }) {
    this.a = native().adamCreate(policy.nativeHandle(), o.beta1, o.beta2, o.eps, o.weightDecay);
  }
  /** Global-norm clip (clipGrad 0 = off), then AdamW; returns the norm before clipping. Gradients are kept. */
  async step(o: { lr: number; clipGrad: number }): Promise<{ gradNorm: number }> {
    return { gradNorm: await native().adamStep(this.a, o.lr, o.clipGrad) };
  }
  get t(): number { return native().adamT(this.a); }
  /** "ZSADAMW1" + u32 header length + JSON header + m (f32) + v (f32). */
  toBytes(): Uint8Array {
    // one buffer, the moments copied into it once by the engine (a 0.5B model's are 4 GB)
    const src = this.toSource();
    const out = new Uint8Array(Buffer.allocUnsafeSlow(src.size).buffer, 0, src.size);
    src.read(0, out);
    return out;
  }
  /**
   * The bytes of toBytes() as a source read in slices: a snapshot streamed to a store without the
   * moments ever copied whole. Valid until the next step (it reads the live moments).
   */
  toSource(): ByteSource {
    const s = native().adamInfo(this.a) as { n: number; t: number; beta1: number; beta2: number; eps: number; weightDecay: number };
    const header = Buffer.from(JSON.stringify({ t: s.t, beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: s.weightDecay, n: s.n }));
    const prefix = Buffer.alloc(12 + header.length);
    prefix.set(Buffer.from(ADAM_MAGIC), 0);
    prefix.writeUInt32LE(header.length, 8);
    prefix.set(header, 12);
    const size = prefix.length + 8 * s.n;
    return {
      size,
      read: (offset: number, out: Uint8Array) => {
        if (offset < 0 || offset + out.length > size) throw new RangeError(`AdamW snapshot: [${offset}, +${out.length}) is outside its ${size} bytes`);
        let done = 0;
        if (offset < prefix.length) {
          done = Math.min(prefix.length - offset, out.length);
          out.set(prefix.subarray(offset, offset + done), 0);
        }
        if (done < out.length) native().adamReadMomentsSlice(this.a, out.subarray(done), offset + done - prefix.length);
      },
    };
  }
  /** The hyperparameters and step count recorded in a snapshot's header. */
  static settingsOf(bytes: Uint8Array): { t: number; beta1: number; beta2: number; eps: number; weightDecay: number } {
    if (Buffer.from(bytes.subarray(0, 8)).toString() !== ADAM_MAGIC) throw new Error("not an AdamW state (bad magic)");
    const hl = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
    const h = JSON.parse(Buffer.from(bytes.subarray(12, 12 + hl)).toString()) as { t: number; beta1: number; beta2: number; eps: number; weightDecay: number };
    return { t: h.t, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay };
  }
  /**
   * The optimizer a snapshot holds (step count, moments). `hyper` replaces the snapshot's betas, eps and
   * weight decay (a fork that changes them); without it the snapshot's own are kept.
   */
  static fromBytes(policy: Policy, bytes: Uint8Array, hyper?: { beta1: number; beta2: number; eps: number; weightDecay: number }): AdamW {
    if (Buffer.from(bytes.subarray(0, 8)).toString() !== ADAM_MAGIC) throw new Error("not an AdamW state (bad magic)");
    const hl = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
    const h = JSON.parse(Buffer.from(bytes.subarray(12, 12 + hl)).toString()) as
      { t: number; beta1: number; beta2: number; eps: number; weightDecay: number; n: number };
    if (h.n !== policy.numParams) throw new Error(`AdamW state is for ${h.n} parameters, the policy has ${policy.numParams}`);
    const opt = new AdamW(policy, hyper ?? h);
    native().adamReadMoments(opt.a, bytes, 12 + hl, h.t); // straight from the bytes, no aligned copy
    return opt;
  }
}
