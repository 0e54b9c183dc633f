// Starting a run: initial weights into the object store, RunStarted into the log, worker processes.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rewardSpecOf } from "../domain/reward/spec.ts";
import { ensurePretrained } from "../offline/pretrain.ts";
import { Policy } from "../native/index.ts";
import { configHash, frozenDtype, weightsLayout, INIT_SEED, INIT_STD, type RunConfig } from "../streams/config.ts";
import { assertInputs } from "../loaders/inputs.ts";
import { loadTokenizer } from "../loaders/tokenizer.ts";
import type { EventLog } from "../streams/eventlog.ts";
import type { RunStarted } from "../streams/events/index.ts";
import { stopPid } from "../streams/nats-server.ts";
import { spawnTethered } from "../streams/tether.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export function codeVersion(): string {
  try { return execSync("git rev-parse --short HEAD", { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim(); } catch { return "unknown"; }
}

export function newRunId(cfg: RunConfig): string {
  const t = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15).toLowerCase();
  return `${cfg.run_name ?? "run"}-${t}-${randomBytes(2).toString("hex")}`;
}

/** The initial policy of a config: pretrained weights from model.path, or a seeded random init of model.arch. */
export function modelCacheDir(): string {
  return process.env.ZS_CACHE_DIR ?? join(root, ".zerostream", "models");
}

export async function initialPolicy(cfg: RunConfig, signal?: AbortSignal): Promise<Policy> {
  if (cfg.model.path) return Policy.load(cfg.model.path);
  if (cfg.model.pretrain) return Policy.load((await ensurePretrained(cfg, { cacheDir: modelCacheDir(), signal })).dir);
  const arch = cfg.model.arch!;
  const tok = loadTokenizer(cfg.tokenizer);
  if (arch.vocab_size < tok.vocabSize) throw new Error(`model.arch.vocab_size (${arch.vocab_size}) is smaller than the tokenizer's vocabulary (${tok.vocabSize})`);
  return Policy.init(arch, cfg.model.init_seed ?? INIT_SEED, cfg.model.init_std ?? INIT_STD);
}

export async function startRun(log: EventLog, cfg: RunConfig, o: { runId?: string; policy?: Policy; parent?: RunStarted["parent"]; optimizerBytes?: Uint8Array; referenceBytes?: Uint8Array; signal?: AbortSignal } = {}): Promise<RunStarted> {
  rewardSpecOf(cfg);     // a reward setting the registry refuses stops the run before it starts
  assertInputs(cfg, { model: !o.policy }); // a missing training set, model or benchmark: refused before anything is stored
  const runId = o.runId ?? newRunId(cfg);
  const policy = o.policy ?? (await initialPolicy(cfg, o.signal));
  const put = { layout: weightsLayout(cfg) };   // runtime.weights_transport chunked: every blob as chunks
  const weightsDigest = await log.putBlob(runId, policy.toSafetensors("f32"), put);
  // model.dtype bf16: the generators' copy, rounded once here (the same bytes as every later servingDigest's rounding)
  const servingDigest = frozenDtype(cfg) === "bf16" ? await log.putBlob(runId, policy.toSafetensors("bf16"), put) : undefined;
  const optDigest = o.optimizerBytes ? await log.putBlob(runId, o.optimizerBytes, put) : undefined;
  const refDigest = o.referenceBytes ? await log.putBlob(runId, o.referenceBytes, put) : undefined;
  const started: RunStarted = {
    type: "RunStarted", v: 2, runId, config: cfg, configHash: configHash(cfg),
    codeVersion: codeVersion(), seed: cfg.seed, modelConfig: { ...policy.config },
    initialWeightsDigest: weightsDigest, ...(servingDigest ? { initialServingDigest: servingDigest } : {}), ...(optDigest ? { initialOptimizerDigest: optDigest } : {}),
    ...(refDigest && refDigest !== weightsDigest ? { referenceWeightsDigest: refDigest } : {}),
    ...(o.parent ? { parent: o.parent } : {}), startedAt: new Date().toISOString(),
  };
  await log.publish(started);
  await log.putRunRecord(runId, { status: "started", configHash: started.configHash, startedAt: started.startedAt, step: -1 });
  if (!o.policy) policy.dispose();
  return started;
}

export type WorkerProc = { role: string; child: ChildProcess; stop(): Promise<void> };

export function spawnWorker(role: "rollout" | "reward" | "updater", server: string, extra: string[] = [], env: Record<string, string> = {}): WorkerProc {
  // tethered: a run that dies (SIGKILL, a segfault in the engine) takes its workers with it (SIGKILL: nobody
  // waits for them, and a message in hand is redelivered); their own process group, so that a Ctrl-C
  // reaches only the run, which stops them in order
  const { child } = spawnTethered(process.execPath, [join(root, "cli", "bin.mjs"), "worker", role, "--server", server, ...extra], {
    stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ZS_ROLE: role, ...env }, deathSignal: "SIGKILL", ownGroup: true,
  });
  return {
    role, child,
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return;
      await stopPid(child.pid, () => child.exitCode !== null || child.signalCode !== null, 10_000);
    },
  };
}
