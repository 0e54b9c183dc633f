// Base-model pretraining for tiny runs: next-token cross-entropy through the native engine on the
// synthetic corpus (loaders/corpus.ts), packed rows, AdamW with warm-up and cosine decay.
// Cached by a hash of everything that determines the weights, so `npm start` pretrains once.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { AdamW, Policy } from "../native/index.ts";
import { canonical, INIT_SEED, INIT_STD, type RunConfig } from "../streams/config.ts";
import { documents, type PretrainSpec } from "../loaders/corpus.ts";
import { taskRows } from "../loaders/tasks.ts";
import { loadTokenizer } from "../loaders/tokenizer.ts";
import { childLogger } from "../streams/logger.ts";
import { scheduledLr } from "../domain/grpo/schedule.ts";

export const CORPUS_VERSION = 2;

export type PretrainResult = { dir: string; cached: boolean; digest: string; losses: number[]; tokensPerSec: number; seconds: number };

export function pretrainKey(cfg: RunConfig): string {
  const m = cfg.model;
  const key = { corpus: CORPUS_VERSION, arch: m.arch, init_seed: m.init_seed ?? INIT_SEED, init_std: m.init_std ?? INIT_STD, pretrain: m.pretrain, tokenizer: cfg.tokenizer };
  return createHash("sha256").update(JSON.stringify(canonical(key))).digest("hex").slice(0, 16);
}

/** Pretraining's lr: warm-up, then cosine decay to lr × min_lr_ratio (domain/grpo/schedule.ts scheduledLr). */
export function pretrainLr(p: PretrainSpec, step: number): number {
  return scheduledLr({ lr: p.lr, minLr: p.lr * p.min_lr_ratio, warmup: p.warmup, total: p.steps, shape: "cosine" }, step);
}

/** Pretrains (or finds in the cache) the base model of a config with model.pretrain; returns its directory. */
export async function ensurePretrained(cfg: RunConfig, o: { cacheDir: string; log?: Logger; onStep?: (step: number, loss: number) => void; signal?: AbortSignal }): Promise<PretrainResult> {
  const p = cfg.model.pretrain;
  if (!p || !cfg.model.arch) throw new Error("ensurePretrained needs model.arch and model.pretrain");
  const lg = o.log ?? childLogger({ role: "pretrain" });
  const dir = join(o.cacheDir, pretrainKey(cfg));
  if (existsSync(join(dir, "pretrain.json"))) {
    const meta = JSON.parse(readFileSync(join(dir, "pretrain.json"), "utf8")) as Omit<PretrainResult, "dir" | "cached">;
    return { ...meta, dir, cached: true };
  }
  const tok = loadTokenizer(cfg.tokenizer);
  const held = new Set(taskRows(p.task, "heldout", 256, 0, p.params).map((r) => r.question));
  const policy = Policy.init(cfg.model.arch, cfg.model.init_seed ?? INIT_SEED, cfg.model.init_std ?? INIT_STD);
  const opt = new AdamW(policy, { beta1: p.adam_beta1, beta2: p.adam_beta2, eps: 1e-8, weightDecay: p.weight_decay });
  const docs = documents(p, held);
  const rowsPerStep = p.batch_rows, L = p.seq_len;
  const need = rowsPerStep * L;
  const seqLens = new Int32Array(rowsPerStep).fill(L);
  const lossMask = new Float32Array(need).fill(1);
  for (let r = 0; r < rowsPerStep; r++) lossMask[r * L] = 0;
  const globalTokens = need - rowsPerStep;
  let buf: number[] = [];
  const losses: number[] = [];
  const t0 = performance.now();
  try {
    for (let step = 0; step < p.steps; step++) {
      o.signal?.throwIfAborted(); // stopped between steps: nothing is cached
      while (buf.length < need) buf = buf.concat(tok.encode(docs.next().value as string));
      const tokens = Int32Array.from(buf.slice(0, need));
      buf = buf.slice(need);
      policy.zeroGrad();
      const st = await policy.accumulate({ tokens, seqLens, lossMask }, { kind: "ce", globalTokens });
      await opt.step({ lr: pretrainLr(p, step), clipGrad: p.clip_grad });
      losses.push(st.loss);
      o.onStep?.(step, st.loss);
      if (step % 250 === 0 || step === p.steps - 1) lg.info({ step, loss: Number(st.loss.toFixed(4)), lr: pretrainLr(p, step) }, "pretrain");
    }
    const seconds = (performance.now() - t0) / 1000;
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await policy.save(tmp);
    const meta = { digest: policy.digest(), losses, tokensPerSec: (p.steps * need) / seconds, seconds };
    writeFileSync(join(tmp, "pretrain.json"), JSON.stringify({ ...meta, spec: p, key: pretrainKey(cfg) }) + "\n");
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return { ...meta, dir, cached: false };
  } finally {
    policy.dispose();
  }
}
