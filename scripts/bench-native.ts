// `npm run bench -- native [--json] [--size small,medium] [--threads 2] [--no-torch] [--only train,fwd,sample,gemm,topp] [--compute f32,bf16] [--gemm-reps N] [--kernels avx2,avx512,avx512-bf16]`
// Native engine throughput on the shapes of scripts/baselines/README.md: training tokens/s (fwd + bwd
// + AdamW), forward tokens/s, KV-cached sampling tokens/s, GFLOP/s and MFU against a measured FMA
// peak; with /usr/bin/python3 + torch present, the PyTorch baseline (scripts/baselines/) runs in the
// same process tree and the ratios are printed. --compute bf16 runs the same shapes with model.compute_dtype bf16
// (bf16 operands, fp32 accumulation; vdpbf16ps on the avx512-bf16 kernel set, emulated on the others) and prints
// its rates against fp32's. The CPU, its instruction sets, the engine's kernel set and a peak per instruction
// (256-bit FMA, 512-bit FMA, AVX512-BF16 dot product; each probed) head the output; every MFU is against the
// best peak the CPU has for that compute dtype (fp32: the better FMA; bf16: that or the bf16 dot product), not
// the one the kernel set uses. --kernels runs the same shapes under each named set (ZS_KERNELS names), one after
// another, the PyTorch baseline once. `topp`: top-p 0.95 alone on one row of Qwen2.5's 151,936 logits. `gemm`: every matrix shape the
// model uses (q/k/v, o, gate/up, down, head) on a training micro-batch (16 x 128 rows), forward and both
// backward products (dX = dY W, dW = dY^T X) apart, GFLOP/s against the measured FMA peak.
// --json prints one JSON document on stdout (human lines on stderr).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AdamW, KERNEL_SET_NAMES, Policy, cpuInfo, kernelSet, kernelSetsSupported, kernels, setKernelSet, setThreads, type ComputeDtype, type Qwen2Config } from "../native/index.ts";
import { median } from "./stats.ts";

type Size = { d_model: number; n_layers: number; n_heads: number; n_kv_heads: number; head_dim: number; ffn: number; vocab: number };
const SIZES: Record<string, Size> = {
  small: { d_model: 256, n_layers: 4, n_heads: 4, n_kv_heads: 2, head_dim: 64, ffn: 768, vocab: 64 },
  medium: { d_model: 512, n_layers: 8, n_heads: 8, n_kv_heads: 4, head_dim: 64, ffn: 1536, vocab: 64 },
};
type Run = { name: string; tokens_per_call: number; reps: number; tok_s_median: number; tok_s_min: number; tok_s_max: number; gflop_s: number; mfu: number };

function opt(argv: string[], name: string, dflt: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] && !argv[i + 1].startsWith("--") ? argv[i + 1] : dflt;
}

/** Same convention as torch_qwen2_baseline.py: dense matmul FLOPs + attention at full context. */
function flopsPerToken(c: Size, ctx: number): { dense: number; attn: number } {
  const d = c.d_model, L = c.n_layers, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  const nMatmul = L * (d * q + 2 * d * kv + q * d + 3 * d * c.ffn) + d * c.vocab;
  return { dense: 2 * nMatmul, attn: 4 * L * q * ctx };
}

function config(c: Size, maxLen: number): Qwen2Config {
  return { vocab_size: c.vocab, hidden_size: c.d_model, num_hidden_layers: c.n_layers, num_attention_heads: c.n_heads,
    num_key_value_heads: c.n_kv_heads, head_dim: c.head_dim, intermediate_size: c.ffn, rope_theta: 1e6, rms_norm_eps: 1e-6,
    tie_word_embeddings: true, max_position_embeddings: maxLen };
}

async function timed(fn: () => Promise<unknown>, reps: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); ts.push((performance.now() - t0) / 1e3); }
  return ts;
}

function summarize(log: (s: string) => void, name: string, tokens: number, ts: number[], flop: number, peak: number): Run {
  const rates = ts.map((t) => tokens / t).sort((a, b) => a - b);
  const med = median(rates), g = (med * flop) / 1e9;
  log(`  ${name.padEnd(28)} ${med.toFixed(0).padStart(9)} tok/s  (min ${rates[0].toFixed(0)}, max ${rates[rates.length - 1].toFixed(0)}, ${ts.length} reps)  ${g.toFixed(1).padStart(6)} GFLOP/s  MFU ${(100 * g / peak).toFixed(1)}%`);
  return { name, tokens_per_call: tokens, reps: ts.length, tok_s_median: med, tok_s_min: rates[0], tok_s_max: rates[rates.length - 1], gflop_s: g, mfu: g / peak };
}

function randInts(n: number, V: number, seed: number): Int32Array {
  let s = seed >>> 0 || 1;
  return Int32Array.from({ length: n }, () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s % V; });
}

/** The CPU's model name and the instruction sets that matter to the kernels. */
export function cpuOf(): { model: string; isa: string[] } {
  const c = cpuInfo();
  return { model: c?.model ?? "unknown CPU", isa: ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"].filter((f) => c?.flags.has(f)) };
}

async function benchSize(log: (s: string) => void, size: string, only: Set<string>, peak: number, o: { B: number; T: number; SB: number; P: number; G: number; micro: number; gemmReps?: number }, compute: ComputeDtype = "f32"): Promise<Run[]> {
  const c = SIZES[size], runs: Run[] = [];
  const p = Policy.init(config(c, Math.max(o.T, o.P + o.G)), 0).withCompute(compute);
  const { dense, attn } = flopsPerToken(c, o.T);
  log(`native ${size}, compute ${compute}: params ${p.numParams.toLocaleString()}, forward ${((dense + attn) / 1e6).toFixed(2)} MFLOP/token @T=${o.T}, peak ${peak.toFixed(0)} GFLOP/s`);
  const tokens = randInts(o.B * o.T, c.vocab, 1), lossMask = new Float32Array(o.B * o.T).fill(1);
  for (let b = 0; b < o.B; b++) lossMask[b * o.T] = 0;
  if (only.has("train")) {
    const adam = new AdamW(p, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 });
    const mb = Math.max(1, Math.min(o.B, o.micro)), G = lossMask.reduce((s, x) => s + x, 0);
    const step = async () => {
      p.zeroGrad();
      for (let b0 = 0; b0 < o.B; b0 += mb) {
        const n = Math.min(mb, o.B - b0);
        await p.accumulate({ tokens: tokens.subarray(b0 * o.T, (b0 + n) * o.T), seqLens: new Int32Array(n).fill(o.T),
          lossMask: lossMask.subarray(b0 * o.T, (b0 + n) * o.T) }, { kind: "ce", globalTokens: G });
      }
      await adam.step({ lr: 1e-4, clipGrad: 0 });
    };
    runs.push(summarize(log, `train (fwd+bwd+AdamW, mb ${mb})`, o.B * o.T, await timed(step, size === "small" ? 6 : 3, 1), 3 * (dense + attn), peak));
  }
  if (only.has("fwd")) {
    const seqLens = new Int32Array(o.B).fill(o.T);
    runs.push(summarize(log, "forward (logits)", o.B * o.T, await timed(() => p.forward({ tokens, seqLens }), size === "small" ? 6 : 4, 1), dense + attn, peak));
  }
  if (only.has("sample")) {
    const prompts = Array.from({ length: o.SB }, (_, i) => randInts(o.P, c.vocab, 100 + i));
    const seeds = prompts.map((_, i) => i);
    const req = { prompts, seeds, temperature: 1, topP: 1, topK: 0, maxNewTokens: o.G, stopTokenIds: [] as number[] };
    const f = flopsPerToken(c, o.P + o.G / 2);
    runs.push(summarize(log, "sample (prefill+decode)", o.SB * o.G, await timed(() => p.sample(req), 3, 1), f.dense + f.attn + (f.dense * o.P) / o.G, peak));
    // GRPO's shape: 8 samples per prompt share one prefill (not comparable with the baseline's distinct prompts)
    const grouped = { ...req, prompts: prompts.map((_, i) => prompts[i - (i % 8)]) };
    runs.push(summarize(log, "  sample, 8 rows per prompt", o.SB * o.G, await timed(() => p.sample(grouped), 3, 1), f.dense + f.attn + (f.dense * o.P) / o.G / 8, peak));
  }
  p.dispose();
  // the peak again, best of 3 with the earlier one: a probe taken while the machine was busy would flatter the table
  if (only.has("gemm")) runs.push(...benchGemm(log, c, Math.max(peak, peakFor(measurePeaks(3), compute)), o.micro * o.T, compute, o.gemmReps));
  return runs;
}

/** Top-p alone (top_k off) on one row of Qwen2.5's vocabulary: logits N(0, sd²), the wider sd the smaller the nucleus. */
function benchTopP(log: (s: string) => void): { sd: number; ms_median: number }[] {
  const k = kernels(), V = 151_936, out: { sd: number; ms_median: number }[] = [];
  let st = 777;
  const rnd = () => { st = (st * 1103515245 + 12345) >>> 0; return (st + 0.5) / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  for (const sd of [1, 2, 3, 4]) {
    const ts: number[] = [];
    for (let r = 0; r < 15; r++) {
      const z = Float32Array.from({ length: V }, () => gauss() * sd);
      const t0 = performance.now();
      k.sampleRow(false, z, 1, 0.95, 0, rnd());
      ts.push(performance.now() - t0);
    }
    out.push({ sd, ms_median: median(ts) });
  }
  log(`top-p 0.95 alone, one row of V = ${V.toLocaleString()} (logits N(0, sd²)), ms per row and token: ` + out.map((x) => `sd ${x.sd} ${x.ms_median.toFixed(2)}`).join(", "));
  return out;
}

type Peaks = { fma256: number; fma512: number; dpbf16: number };
/** Each instruction's probe, best of `n` (contention only lowers a probe); 0 where the CPU lacks it. */
function measurePeaks(n: number): Peaks {
  const best = (isa: string) => Math.max(...Array.from({ length: n }, () => kernels().isaPeak(isa, isa === "fma256" ? 5e7 : 2.5e7)));
  return { fma256: best("fma256"), fma512: best("fma512"), dpbf16: best("dpbf16") };
}
/** The best peak the CPU has for a compute dtype: fp32 FMAs of either width; bf16 also its dot product. */
function peakFor(p: Peaks, compute: ComputeDtype): number {
  const f32 = Math.max(p.fma256, p.fma512);
  return compute === "bf16" ? Math.max(f32, p.dpbf16) : f32;
}

/** Each linear layer's shape, forward, dX and dW apart (kernels().matmul / matmulBackward with the other output null). */
function benchGemm(log: (s: string) => void, c: Size, peak: number, N: number, compute: ComputeDtype, gemmReps?: number): Run[] {
  const k = kernels(), runs: Run[] = [];
  const C = c.d_model, HD = c.n_heads * c.head_dim, QKV = (c.n_heads + 2 * c.n_kv_heads) * c.head_dim;
  const shapes: [string, number, number][] = [["qkv", C, QKV], ["o", HD, C], ["gate/up", C, 2 * c.ffn], ["down", c.ffn, C], ["head", C, c.vocab]];
  const rnd = (n: number, seed: number) => { const r = randInts(n, 2001, seed); return Float32Array.from(r, (x) => (x - 1000) / 1000); };
  const time = (fn: () => void, reps: number) => { fn(); const ts: number[] = []; for (let i = 0; i < reps; i++) { const t0 = performance.now(); fn(); ts.push((performance.now() - t0) / 1e3); } return ts; };
  log(`  gemm (${N} rows, compute ${compute}): GFLOP/s and % of the ${peak.toFixed(0)} GFLOP/s peak`);
  for (const [name, I, O] of shapes) {
    const x = rnd(N * I, 1), w = rnd(O * I, 2), dy = rnd(N * O, 3), y = new Float32Array(N * O), dx = new Float32Array(N * I), dw = new Float32Array(O * I);
    const flop = 2 * N * I * O, reps = gemmReps ?? (flop > 2e9 ? 4 : 8);
    const parts: [string, () => void][] = [
      ["fwd", () => k.matmul(false, y, x, w, null, N, I, O, compute)],
      ["dX", () => k.matmulBackward(false, dx, null, null, dy, x, w, N, I, O, compute)],
      ["dW", () => k.matmulBackward(false, null, dw, null, dy, x, w, N, I, O, compute)],
    ];
    const line: string[] = [];
    for (const [part, fn] of parts) {
      const ts = time(fn, reps).sort((a, b) => a - b), med = median(ts), g = flop / med / 1e9;
      runs.push({ name: `gemm ${name} ${part} (${N}x${I}x${O})`, tokens_per_call: N, reps, tok_s_median: N / med, tok_s_min: N / ts[ts.length - 1], tok_s_max: N / ts[0], gflop_s: g, mfu: g / peak });
      line.push(`${part} ${g.toFixed(1).padStart(6)} (${(100 * g / peak).toFixed(0).padStart(3)}%${gemmReps ? `, best ${(flop / ts[0] / 1e9).toFixed(1)}` : ""})`);
    }
    log(`    ${name.padEnd(8)} ${String(I).padStart(5)} -> ${String(O).padEnd(5)}  ${line.join("   ")}`);
  }
  return runs;
}

function torchBaseline(log: (s: string) => void, size: string, threads: number): { runs: Run[] } | undefined {
  const script = join(dirname(fileURLToPath(import.meta.url)), "baselines", "torch_qwen2_baseline.py");
  const py = "/usr/bin/python3";
  if (!existsSync(py) || !existsSync(script)) { log(`(no PyTorch baseline: ${existsSync(py) ? script : py} missing)`); return undefined; }
  if (spawnSync(py, ["-c", "import torch"], { stdio: "ignore" }).status !== 0) { log("(no PyTorch baseline: /usr/bin/python3 has no torch)"); return undefined; }
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-")), out = join(dir, "torch.json");
  // ATen's avx512 kernels die with SIGILL on CPUs without AVX-512: ask for what this CPU has
  const capability = cpuOf().isa.includes("avx512f") ? "avx512" : "avx2";
  try {
    const r = spawnSync(py, [script, "--size", size, "--threads", String(threads), "--json", out, ...(size === "medium" ? ["--train-steps", "4"] : [])], {
      env: { ...process.env, ATEN_CPU_CAPABILITY: capability, GOMP_SPINCOUNT: "0", OPENBLAS_THREAD_TIMEOUT: "4" }, encoding: "utf8" });
    if (r.status !== 0) { log(`(PyTorch baseline failed: ${r.signal ?? `exit ${r.status}`} ${(r.stderr ?? "").slice(-400)})`); return undefined; }
    log(`  torch| ATEN_CPU_CAPABILITY=${capability}`);
    log(r.stdout.trimEnd().split("\n").map((l) => "  torch| " + l).join("\n"));
    return JSON.parse(readFileSync(out, "utf8")) as { runs: Run[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const log = (s: string) => process[json ? "stderr" : "stdout"].write(s + "\n");
  const threads = Number(opt(argv, "--threads", "2"));
  const sizes = opt(argv, "--size", "small,medium").split(",");
  const only = new Set(opt(argv, "--only", "train,fwd,sample,gemm,topp").split(","));
  const computes = opt(argv, "--compute", "f32").split(",") as ComputeDtype[];
  for (const c of computes) if (c !== "f32" && c !== "bf16") { process.stderr.write(`unknown --compute '${c}' (f32, bf16)\n`); return 2; }
  const gemmReps = argv.includes("--gemm-reps") ? Number(opt(argv, "--gemm-reps", "60")) : undefined;
  if (gemmReps !== undefined && !(Number.isInteger(gemmReps) && gemmReps > 0)) { process.stderr.write(`--gemm-reps takes a positive integer\n`); return 2; }
  const o = { B: 64, T: 128, SB: 256, P: 32, G: 64, micro: Number(opt(argv, "--micro", "16")), gemmReps };
  for (const s of sizes) if (!SIZES[s]) { process.stderr.write(`unknown size '${s}' (small, medium)\n`); return 2; }
  const supported = kernelSetsSupported();
  const active = Object.entries(KERNEL_SET_NAMES).find(([, v]) => v === kernelSet())![0];
  const sets = opt(argv, "--kernels", active).split(",");
  for (const k of sets) {
    if (!(k in KERNEL_SET_NAMES)) { process.stderr.write(`unknown --kernels '${k}' (${Object.keys(KERNEL_SET_NAMES).join(", ")})\n`); return 2; }
    if (!supported.includes(k)) { process.stderr.write(`--kernels ${k}: this CPU runs ${supported.join(", ")}\n`); return 2; }
  }
  setThreads(threads);
  const peaks = measurePeaks(5);
  const cpu = cpuOf();
  const amx = cpu.isa.includes("amx_bf16") ? "; AMX-BF16 tiles present: no probe or kernel for them yet" : "";
  log(`CPU: ${cpu.model} (${cpu.isa.join(", ") || "no AVX2"}); kernel set ${sets.map((k) => KERNEL_SET_NAMES[k]).join(", then ")}; ${threads} threads`);
  log(`peaks (GFLOP/s, ${threads} threads, best of 5 probes): 256-bit FMA ${peaks.fma256.toFixed(0)}, 512-bit FMA ${peaks.fma512 ? peaks.fma512.toFixed(0) : "n/a"}, AVX512-BF16 dot ${peaks.dpbf16 ? peaks.dpbf16.toFixed(0) : "n/a"}${amx}; MFU against fp32 ${peakFor(peaks, "f32").toFixed(0)}, bf16 ${peakFor(peaks, "bf16").toFixed(0)}`);
  const result: Record<string, unknown> = { cpu, kernel_set: KERNEL_SET_NAMES[sets[0]], kernel_sets: sets.map((k) => KERNEL_SET_NAMES[k]), threads, peaks,
    peak_gflop_s: peakFor(peaks, "f32"), peak_bf16_gflop_s: peakFor(peaks, "bf16"), sizes: {} as Record<string, unknown> };
  if (only.has("topp")) result.topp = benchTopP(log);
  const bySet: Record<string, Record<string, unknown>> = {};
  const torchOf = new Map<string, { runs: Run[] } | undefined>();
  try {
    for (const k of sets) {
      setKernelSet(k as "avx2");
      const sizesOut: Record<string, unknown> = {};
      for (const size of sizes) {
        const byCompute: Partial<Record<ComputeDtype, Run[]>> = {};
        for (const c of computes) {
          if (sets.length > 1 || c === "bf16") log(`[kernel set ${kernelSet()}${c === "bf16" ? (k === "avx512-bf16" ? ", compute bf16 on vdpbf16ps" : ", compute bf16 emulated (bf16-rounded operands, fp32 FMAs)") : ""}]`);
          byCompute[c] = await benchSize(log, size, only, peakFor(peaks, c), o, c);
        }
        const native = byCompute.f32 ?? [];
        if (byCompute.f32 && byCompute.bf16 && byCompute.bf16.some((r) => !r.name.startsWith("gemm")))
          log(`  compute bf16 / f32 (${size}, ${k}): ` + byCompute.bf16.filter((r) => !r.name.startsWith("gemm")).map((r, i) => `${r.name.includes("8 rows") ? "sample (8 rows/prompt)" : r.name.trim().split(/[ ,]/)[0]} ${(r.tok_s_median / byCompute.f32![i].tok_s_median).toFixed(2)}x`).join(", "));
        if (!torchOf.has(size)) torchOf.set(size, argv.includes("--no-torch") ? undefined : torchBaseline(log, size, threads));
        const torch = torchOf.get(size);
        const ratios: Record<string, number> = {};
        if (torch) {
          const pick = (runs: Run[], prefix: string) => runs.find((r) => r.name.startsWith(prefix))?.tok_s_median;
          for (const [key, prefix] of [["train", "train"], ["fwd", "forward"], ["sample", "sample"]] as const) {
            const a = pick(native, prefix), b = pick(torch.runs, prefix);
            if (a && b) ratios[key] = a / b;
          }
          log(`  ratios vs PyTorch (${size}, ${threads} threads, ${k}): ` + Object.entries(ratios).map(([key, v]) => `${key} ${v.toFixed(2)}x`).join(", "));
        }
        sizesOut[size] = { native, ...(byCompute.bf16 ? { native_bf16: byCompute.bf16 } : {}), torch: torch?.runs, ratios };
      }
      bySet[KERNEL_SET_NAMES[k]] = sizesOut;
    }
  } finally {
    setKernelSet(active as "avx2");
  }
  result.sizes = bySet[KERNEL_SET_NAMES[sets[0]]];
  if (sets.length > 1) result.by_kernel_set = bySet;
  if (json) process.stdout.write(JSON.stringify(result, null, 1) + "\n");
  return 0;
}
