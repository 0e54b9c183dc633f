// `npm run bench -- real-shape`: one full GRPO step of a model in Qwen2.5-0.5B's shape (issue 14 item 5)
// through the bus, on this machine: a random checkpoint generated in the published layout (vocab
// 151,936, hidden 896, 24 layers, 14 query / 2 KV heads, intermediate 4,864, tied embeddings, bf16 on
// disk, the real Qwen2.5 tokenizer), 8 MATH-500 prompts × 4 samples rendered with the `qwen_r1`
// template, 256 new tokens, a reference pass (kl_coef 0.001), the update and the snapshot, on an
// embedded nats-server with 1 generator and 1 reward consumer (separate processes). Reports the peak
// resident memory of each process (sampled from /proc every 200 ms, and the kernel's high-water mark),
// the time of each phase and tokens/s; then the PyTorch baseline of the same shape in the same run
// (scripts/baselines/torch_qwen2_baseline.py --config: its forward, backward and sampling rates) and
// the ratios. Needs about 16 GiB of free memory and 15-25 minutes on 2 cores.
//
// Flags: --prompts 8 --samples 4 --new-tokens 256 --micro-batch 2 --threads 0 (all cores) --dtype bf16 (model.dtype:
//        the frozen copies, the generator's policy and the KL reference; f32 to measure without them)
//        --compute f32|bf16 (model.compute_dtype: the precision of every linear layer's products; f32 by default)
//        --no-baseline  --keep DIR (the checkpoint, the config, the events)  --json  --out FILE
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "../cli/args.ts";
import { runConfig } from "../cli/commands/run.ts";
import { kernelSet } from "../native/index.ts";
import { loadConfig, parseModelConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import type { GroupSampled, GroupScored, PolicyUpdated, RunStarted } from "../streams/events/index.ts";
import { applyDelta, encodeDelta } from "../streams/weights-delta.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { makeCheckpoint } from "./make-checkpoint.ts";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const SHAPE = join(root, "test", "fixtures", "qwen2.5-configs", "Qwen2.5-0.5B.config.json");
const TOKENIZER = join(root, "test", "fixtures", "qwen2.5-tokenizer");

type Peak = { rssMiB: number; hwmMiB: number };

/** Peak memory of this process, the run's workers and its nats-server, polled from /proc. */
class MemoryWatch {
  readonly peaks = new Map<string, Peak>();
  private timer: NodeJS.Timeout;
  constructor(private readonly roleOf: (pid: number, cmd: string) => string | undefined) {
    this.timer = setInterval(() => this.poll(), 200);
    this.timer.unref();
  }
  poll(): void {
    for (const e of readdirSync("/proc")) {
      if (!/^\d+$/.test(e)) continue;
      const pid = Number(e);
      let cmd: string, status: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
        status = readFileSync(`/proc/${pid}/status`, "utf8");
      } catch { continue; } // gone
      const role = this.roleOf(pid, cmd);
      if (!role) continue;
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
      const p = this.peaks.get(role) ?? { rssMiB: 0, hwmMiB: 0 };
      p.rssMiB = Math.max(p.rssMiB, kb("VmRSS") / 1024);
      p.hwmMiB = Math.max(p.hwmMiB, kb("VmHWM") / 1024);
      this.peaks.set(role, p);
    }
  }
  stop(): void { clearInterval(this.timer); this.poll(); }
}

type TorchRun = { name: string; tok_s_median: number; sec_median: number; gflop_s: number };

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, { boolean: ["json", "no-baseline"], string: ["prompts", "samples", "new-tokens", "micro-batch", "threads", "keep", "out", "dtype", "compute"] });
  const dtype = (flags.dtype as string | undefined) ?? "bf16";
  if (dtype !== "bf16" && dtype !== "f32") throw new Error(`--dtype must be bf16 or f32, got ${JSON.stringify(dtype)}`);
  const compute = (flags.compute as string | undefined) ?? "f32";
  if (compute !== "bf16" && compute !== "f32") throw new Error(`--compute must be f32 or bf16, got ${JSON.stringify(compute)}`);
  const prompts = Number(flags.prompts ?? 8), samples = Number(flags.samples ?? 4), newTokens = Number(flags["new-tokens"] ?? 256);
  const micro = Number(flags["micro-batch"] ?? 2), threads = Number(flags.threads ?? 0);
  const dir = (flags.keep as string | undefined) ?? mkdtempSync(join(tmpdir(), "zs-bench-real-"));
  mkdirSync(dir, { recursive: true });
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const say = (s: string) => { if (!flags.json) process.stdout.write(s + "\n"); };
  say(`real-shape GRPO step: Qwen2.5-0.5B's shape, ${prompts} prompts x ${samples} samples, ${newTokens} new tokens, model.dtype ${dtype}, compute ${compute}; ${cpu}, ${cpus().length} cores, kernels ${kernelSet()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);

  // 1. the checkpoint, as published (bf16, one file: 0.99 GB) with the real tokenizer
  const ckpt = join(dir, "Qwen2.5-0.5B-random");
  const t0 = performance.now();
  if (!existsSync(join(ckpt, "model.safetensors"))) {
    const shape = parseModelConfig(JSON.parse(readFileSync(SHAPE, "utf8")));
    makeCheckpoint(ckpt, shape, { dtype: "bf16", tokenizerDir: TOKENIZER, seed: 0 });
  }
  say(`  checkpoint ${ckpt} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  // 2. the run's config: the seed recipe's algorithm at this size, one step
  const config = {
    run_name: "real-shape-05b", seed: 0,
    model: { name: "Qwen2.5-0.5B-shape-random", path: ckpt, dtype, compute_dtype: compute },
    tokenizer: { type: "hf", path: ckpt },
    data: {
      train: { path: join(root, "data", "eval", "math500.jsonl"), format: "jsonl", map_keys: { prompt: "problem", answer: "answer" } },
      template: "qwen_r1", max_prompt_length: 512, max_response_length: newTokens,
    },
    rollout: { n_samples_per_prompt: samples, temperature: 1.0, top_p: 1.0, prompts_per_task: Math.min(4, prompts) },
    reward: { fn: "base_acc", format_mode: "strict" },
    algorithm: { adv_estimator: "grpo", kl_coef: 0.001, kl_estimator: "k3", clip_ratio: 0.2, loss_agg_mode: "token-mean" },
    actor: { global_batch_size: prompts, micro_batch_size: micro, train_iters: 1, lr: 1e-6, lr_schedule: "constant", weight_decay: 0.01, clip_grad: 1.0, adam_beta1: 0.9, adam_beta2: 0.95 },
    runtime: { threads, rollout_workers: 1, reward_workers: 1 },
  };
  const file = join(dir, "real-shape.yaml");
  writeFileSync(file, JSON.stringify(config, null, 2) + "\n"); // JSON is YAML
  loadConfig(file); // refused here, not in a worker, when invalid

  // 3. the PyTorch baseline of the same shape, first: this process holds a model's worth of memory
  // after the step, and never at the same time as the step on 2 cores
  let torch: { runs: TorchRun[] } | undefined;
  if (!flags["no-baseline"]) {
    const py = "/usr/bin/python3";
    const has = spawnSync(py, ["-c", "import torch"], { encoding: "utf8" });
    if (has.status !== 0) say(`  PyTorch baseline skipped: ${py} cannot import torch (apt-get install python3-torch)`);
    else {
      const out = join(dir, "torch.json");
      const promptLen = 160; // about the qwen_r1 prompts of MATH-500 (the step's own are printed below)
      const args = ["scripts/baselines/torch_qwen2_baseline.py", "--config", join(ckpt, "config.json"), "--threads", String(threads || cpus().length),
        "--batch", String(micro), "--seq", String(promptLen + newTokens), "--train-steps", "2", "--warmup", "1", "--fwd-reps", "2",
        "--sample-reps", "1", "--sample-batch", String(prompts * samples), "--prompt", String(promptLen), "--gen", String(Math.min(64, newTokens)), "--json", out];
      // sampling 64 new tokens, not 256: torch 1.13 did not finish its warmup pass of 32 x 256 in 9
      // minutes here (< 15 tok/s), and the rate is what is compared
      say(`  PyTorch baseline: ${py} ${args.join(" ")}`);
      const r = spawnSync(py, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      if (r.status !== 0) say(`  PyTorch baseline failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
      else torch = JSON.parse(readFileSync(out, "utf8")) as { runs: TorchRun[] };
    }
  }

  // 4. the step, through the bus, with every process's memory watched
  const store = join(dir, "store");
  rmSync(store, { recursive: true, force: true });
  const server = await startLocalServer({ storeDir: store });
  const watch = new MemoryWatch((pid, cmd) => {
    if (pid === process.pid) return "updater (+ run start)";
    if (pid === server.pid) return "nats-server";
    if (!cmd.includes(server.url)) return undefined;
    if (cmd.includes("worker rollout")) return "generator";
    if (cmd.includes("worker reward")) return "reward consumer";
    return undefined;
  });
  const t1 = performance.now();
  let runId: string;
  try {
    runId = (await runConfig({ file, server: server.url, steps: 1, quiet: true })).runId;
  } finally {
    watch.stop();
  }
  const wallS = (performance.now() - t1) / 1000;
  const log = await EventLog.connect(server.url);
  const replayed = await log.replayAll(runId);
  // issue 17 item 2: how many bf16 values one update at this lr changes, and the patch that carries them
  let delta: { words: number; changed: number; density: number; patchBytes: number; fullBytes: number; encodeMs: number; applyMs: number } | undefined;
  const st = replayed.map((r) => r.event).find((e): e is RunStarted => e.type === "RunStarted");
  const up = replayed.map((r) => r.event).find((e): e is PolicyUpdated => e.type === "PolicyUpdated");
  if (st?.initialServingDigest && up?.servingDigest) {
    const a = await log.getBlob(runId, st.initialServingDigest), b = await log.getBlob(runId, up.servingDigest);
    const te = performance.now();
    const d = encodeDelta(a, b, { base: st.initialServingDigest, target: up.servingDigest });
    const ta = performance.now();
    applyDelta(a, d.bytes, st.initialServingDigest);
    delta = { words: b.length / 2, changed: d.header.changed, density: d.header.changed / (b.length / 2), patchBytes: d.bytes.length, fullBytes: b.length, encodeMs: ta - te, applyMs: performance.now() - ta };
  }
  await log.close();
  const storeBytes = Number(spawnSync("du", ["-sb", store], { encoding: "utf8" }).stdout.split("\t")[0]);
  await server.stop();
  const events = replayed.map((r) => r.event);
  writeFileSync(join(dir, "events.jsonl"), replayed.map((r) => JSON.stringify({ seq: r.seq, time: r.time, event: r.event })).join("\n") + "\n");
  const at = (e: unknown) => replayed.find((r) => r.event === e)!.time.getTime();
  const started = replayed[0].time.getTime();
  const sampled = events.filter((e): e is GroupSampled => e.type === "GroupSampled");
  const scored = events.filter((e): e is GroupScored => e.type === "GroupScored");
  const update = events.find((e): e is PolicyUpdated => e.type === "PolicyUpdated")!;
  const genTokens = sampled.reduce((a, g) => a + g.samples.reduce((b, s) => b + s.tokens.length, 0), 0);
  const samplingMs = sampled.reduce((a, g) => a + g.ms, 0); // one generator: its tasks ran one after another
  const t = update.timings;
  const phases = {
    startToFirstGroupS: (Math.min(...sampled.map(at)) - started) / 1000, // RunStarted → first group (the generator loads the weights, prefill, sampling of the first task)
    samplingS: samplingMs / 1000, scoringS: scored.reduce((a, g) => a + g.ms, 0) / 1000,
    referenceS: t.refMs / 1000, updateS: t.updateMs / 1000, snapshotS: t.snapshotMs / 1000, stepS: t.stepMs / 1000, wallS,
  };
  const rates = {
    samplingTokS: genTokens / (samplingMs / 1000),
    referenceTokS: update.stats.tokens / (t.refMs / 1000),   // loss tokens (the responses) per second of the reference pass
    updateTokS: update.stats.tokens / (t.updateMs / 1000),
  };
  const memory = Object.fromEntries([...watch.peaks].map(([k, v]) => [k, { rssGiB: +(v.rssMiB / 1024).toFixed(2), hwmGiB: +(v.hwmMiB / 1024).toFixed(2) }]));
  const totalPeakGiB = [...watch.peaks.values()].reduce((a, p) => a + Math.max(p.rssMiB, p.hwmMiB), 0) / 1024;
  const promptTokens = Math.round(sampled.reduce((a, g) => a + g.prompt.tokens.length, 0) / sampled.length);
  say(`  run ${runId}: ${sampled.length} groups (prompts of ${promptTokens} tokens on average), ${genTokens} tokens sampled, ${update.stats.tokens} loss tokens; step ${phases.stepS.toFixed(1)} s, whole run ${wallS.toFixed(1)} s`);
  say(`  phases: run start → first group ${phases.startToFirstGroupS.toFixed(1)} s; sampling ${phases.samplingS.toFixed(1)} s (${rates.samplingTokS.toFixed(1)} tok/s); scoring ${phases.scoringS.toFixed(2)} s; reference ${phases.referenceS.toFixed(1)} s (${rates.referenceTokS.toFixed(1)} tok/s); update ${phases.updateS.toFixed(1)} s (${rates.updateTokS.toFixed(1)} tok/s); snapshot ${phases.snapshotS.toFixed(1)} s`);
  say(`  peak memory (GiB, resident / kernel high-water mark):`);
  for (const [k, v] of Object.entries(memory)) say(`    ${k.padEnd(22)} ${v.rssGiB.toFixed(2).padStart(6)} / ${v.hwmGiB.toFixed(2).padStart(6)}`);
  say(`    all together (sum of peaks) ${totalPeakGiB.toFixed(2)} GiB of ${(totalmem() / 2 ** 30).toFixed(0)}; the object store on disk ${(storeBytes / 2 ** 30).toFixed(2)} GiB`);

  if (torch) {
    for (const x of torch.runs) say(`    torch ${x.name.padEnd(28)} ${x.tok_s_median.toFixed(1).padStart(9)} tok/s  ${x.gflop_s.toFixed(1)} GFLOP/s`);
    const find = (p: string) => torch!.runs.find((x) => x.name.startsWith(p))?.tok_s_median;
    const tr = find("train"), fw = find("fwd"), sa = find("sample");
    if (tr) say(`    update vs torch train (fwd+bwd+AdamW)  ${(rates.updateTokS / tr).toFixed(2)}x  (ours counts response tokens only; torch every position)`);
    if (fw) say(`    reference pass vs torch forward         ${(rates.referenceTokS / fw).toFixed(2)}x  (the same caveat)`);
    if (sa) say(`    sampling vs torch sampling             ${(rates.samplingTokS / sa).toFixed(2)}x`);
  }
  if (delta) say(`  weights delta (lr ${config.actor.lr}): ${delta.changed.toLocaleString("en-US")} of ${delta.words.toLocaleString("en-US")} bf16 words changed (${(100 * delta.density).toFixed(2)} %); patch ${(delta.patchBytes / 2 ** 20).toFixed(1)} MiB against ${(delta.fullBytes / 2 ** 20).toFixed(1)} MiB whole (${(100 * delta.patchBytes / delta.fullBytes).toFixed(1)} %); encode ${(delta.encodeMs / 1000).toFixed(1)} s, apply + verify ${(delta.applyMs / 1000).toFixed(1)} s`);
  const result = { cpu, cores: cpus().length, kernels: kernelSet(), dtype, compute, prompts, samples, newTokens, micro, threads, runId, groups: sampled.length, promptTokens, genTokens, lossTokens: update.stats.tokens, phases, rates, memory, totalPeakGiB, storeBytes, delta, torch: torch?.runs };
  if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  const outFile = (flags.out as string | undefined) ?? join(root, "reports", "bench-real-shape.json");
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 2) + "\n");
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
  return 0;
}
