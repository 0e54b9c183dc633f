// export-model: a policy version of a run as a model folder in Hugging Face's published layout
// (native/checkpoint.ts writeCheckpoint): config.json, generation_config.json, the weights sharded at a
// size limit with model.safetensors.index.json (or one model.safetensors), bf16 or f32, and the run's
// tokenizer files. The folder is loaded back before the export reports success: an f32 export must give
// the version's own digest (the weights object in the run's bucket), bit for bit.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { writeCheckpoint, type WeightDtype } from "../../native/checkpoint.ts";
import { Policy } from "../../native/index.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import { foldRun } from "../../domain/run/view.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { modelConfigOf, runConfigOf } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";

export class ExportModelError extends ZeroStreamError {}

export type ExportModelResult = {
  version: number; step: number | null; weightsDigest: string; dtype: WeightDtype; files: string[]; weightBytes: number;
  /** the digest of the folder loaded back by this project's loader (f32: equal to weightsDigest) */
  loadedDigest: string;
  tokenizer: string;
};

/** "5GB", "500MB", "2GiB" or a number of bytes (Hugging Face's max_shard_size spellings). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(s.trim());
  if (!m) throw new ExportModelError(`--shard-size ${JSON.stringify(s)}: expected a size such as 5GB, 500MB or a number of bytes`);
  const unit = (m[2] ?? "B").toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const n = Math.floor(Number(m[1]) * mult[unit]);
  if (n < 1) throw new ExportModelError(`--shard-size ${s}: must be at least one byte`);
  return n;
}

export async function exportModel(log: EventLog, runId: string, o: { version: number; out: string; dtype?: WeightDtype; maxShardBytes?: number }): Promise<ExportModelResult> {
  const started = await log.runStarted(runId);
  if (!started) throw new ExportModelError(`run ${runId} has no RunStarted event in the log`);
  if (existsSync(o.out) && (!statSync(o.out).isDirectory() || readdirSync(o.out).length > 0)) {
    throw new ExportModelError(`--out ${o.out} exists and is not an empty directory: export into a new folder`);
  }
  const cfg = runConfigOf(started);
  const modelConfig = modelConfigOf(started);
  const updates = foldRun(await log.replayAll(runId, { subject: subjects.policy(runId) })).updates.map((u) => u.event);
  let digest: string, step: number | null = null;
  if (o.version === 0) {
    digest = started.initialWeightsDigest;
  } else {
    const u = updates.find((e) => e.toVersion === o.version);
    if (!u) throw new ExportModelError(`run ${runId} has no policy version ${o.version}: versions 0..${updates.length ? Math.max(...updates.map((e) => e.toVersion)) : 0} are recorded`);
    digest = u.weightsDigest;
    step = u.step;
  }
  const dtype = o.dtype ?? "bf16";
  const policy = Policy.fromSafetensors(await log.getBlob(runId, digest), modelConfig);   // the blob is verified against its digest
  try {
    const params = policy.params();
    const tensors = policy.tensorTable().map((t) => ({ name: t.name, shape: t.shape, data: params.subarray(t.offset, t.offset + t.numel) }));
    // the run's tokenizer travels with the weights: a Hugging Face one is copied; the built-in char one has no files
    let tokenizerDir: string | undefined;
    let tokenizer = "none (the run's char tokenizer is built in, not a tokenizer.json)";
    const tok = loadTokenizer(cfg.tokenizer);
    if (cfg.tokenizer.type === "hf") {
      tokenizerDir = existsSync(cfg.tokenizer.path) && statSync(cfg.tokenizer.path).isDirectory() ? cfg.tokenizer.path : dirname(cfg.tokenizer.path);
      tokenizer = `tokenizer.json + tokenizer_config.json from ${tokenizerDir}`;
    }
    const r = writeCheckpoint(o.out, modelConfig, tensors, {
      dtype, maxShardBytes: o.maxShardBytes, tokenizerDir,
      configExtra: { eos_token_id: tok.eosId, ...(tok.kind === "hf" ? {} : { zerostream_tokenizer: "char" }) },
      generationConfig: {
        eos_token_id: tok.stopIds.length === 1 ? tok.stopIds[0] : tok.stopIds, pad_token_id: tok.padId,
        do_sample: cfg.rollout.temperature > 0, temperature: cfg.rollout.temperature, top_p: cfg.rollout.top_p,
        ...(cfg.rollout.top_k > 0 ? { top_k: cfg.rollout.top_k } : {}),
        zerostream: { run: runId, version: o.version, step, weights: digest },
      },
    });
    const back = await Policy.load(o.out);
    const loadedDigest = back.digest();
    back.dispose();
    if (dtype === "f32" && loadedDigest !== digest) {
      throw new ExportModelError(`the exported folder ${o.out} loads back to ${loadedDigest}, not the version's ${digest}`);
    }
    return { version: o.version, step, weightsDigest: digest, dtype, files: r.files, weightBytes: r.weightBytes, loadedDigest, tokenizer };
  } finally {
    policy.dispose();
  }
}
