// `zerostream run <config> --dry-run`: everything a run resolves before its first step, without loading a
// weight or starting a server: every path the config names, the model folder (config.json, the index and
// each shard's header: names, shapes, dtypes; the shards may hold headers only), the tokenizer and its
// special tokens, the prompt template rendered through it, the training set, and the engine's memory plan
// per process and component against this machine's memory (os.totalmem()).
import { totalmem } from "node:os";
import { resolve } from "node:path";
import { inspectCheckpoint, type Checkpoint } from "../native/checkpoint.ts";
import { gib, memoryPlan, type MemoryPlan } from "../native/memory.ts";
import { prepareTrainSet } from "../loaders/datasets.ts";
import { assertInputs, describePath } from "../loaders/inputs.ts";
import { HfTokenizer, loadTokenizer } from "../loaders/tokenizer.ts";
import { renderPrompt } from "../loaders/templates.ts";
import type { Qwen2Config, RunConfig } from "../streams/config.ts";
import { ZeroStreamError } from "../streams/errors.ts";

/** What a dry run found that would stop the run (a model and tokenizer that are not a pair, no prompt that fits). */
export class DryRunError extends ZeroStreamError {}

export type DryRun = { lines: string[]; plan: MemoryPlan; fits: boolean; machineBytes: number; checkpoint: Checkpoint | null };

export async function dryRun(cfg: RunConfig, o: { machineBytes?: number } = {}): Promise<DryRun> {
  const out: string[] = [];
  const say = (s = "") => out.push(s);
  assertInputs(cfg);   // every file the config names, with its key

  say(`model (model.${cfg.model.path ? "path" : "arch"}):`);
  let model: Qwen2Config;
  let ck: Checkpoint | null = null;
  if (cfg.model.path) {
    ck = inspectCheckpoint(resolve(cfg.model.path), { headersOnly: true });
    model = ck.config;
    say(`  ${describePath(cfg.model.path)}`);
    say(`  ${ck.sharded ? `${ck.files.length} shards through model.safetensors.index.json` : "one model.safetensors"}, ${ck.tensors.length} tensors, ` +
      `${ck.numParams.toLocaleString("en-US")} parameters, ${ck.dtypes.join("/")} on disk (${gib(ck.weightBytes)})` +
      (ck.dataPresent ? "" : " — headers only: shapes checked, no weights to load"));
  } else {
    model = cfg.model.arch!;
    say(`  random init of model.arch`);
  }
  const D = model.head_dim ?? model.hidden_size / model.num_attention_heads;
  say(`  Qwen2: ${model.num_hidden_layers} layers, hidden ${model.hidden_size}, ${model.num_attention_heads} query / ${model.num_key_value_heads} KV heads of ${D}, ` +
    `FFN ${model.intermediate_size}, vocab ${model.vocab_size}, rope_theta ${model.rope_theta}, rms_norm_eps ${model.rms_norm_eps}, ` +
    `${model.tie_word_embeddings ? "tied" : "untied"} head`);

  const tok = loadTokenizer(cfg.tokenizer);
  say(`tokenizer (tokenizer.type ${cfg.tokenizer.type}):`);
  if ("path" in cfg.tokenizer) say(`  ${describePath(cfg.tokenizer.path)}`);
  say(`  ${tok.vocabSize.toLocaleString("en-US")} ids, eos ${tok.eosId}, pad ${tok.padId}, stop ids [${tok.stopIds.join(", ")}]` +
    (tok instanceof HfTokenizer ? `, special tokens ${JSON.stringify(tok.specialTokens)}, ${tok.chatTemplate ? "a chat template" : "no chat template"} in tokenizer_config.json` : ""));
  if (tok.vocabSize > model.vocab_size) {
    throw new DryRunError(`the tokenizer has ${tok.vocabSize} ids but the model's vocab_size is ${model.vocab_size}: they are not a pair`);
  }

  const ds = await prepareTrainSet(cfg, tok);
  if (ds.rows.length === 0) throw new DryRunError(`data.train: none of the ${ds.total} prompts fits max_prompt_length ${cfg.data.max_prompt_length} once rendered with template ${cfg.data.template}`);
  say(`template ${cfg.data.template}, rendered by the tokenizer:`);
  const first = ds.rows[0];
  const longest = ds.rows.reduce((a, r) => Math.max(a, r.tokens.length), 0);
  say(`  ${JSON.stringify(renderPrompt(cfg.data.template, "{question}", cfg.data.templates))}`);
  say(`  first prompt (${first.id}): ${first.tokens.length} tokens; longest ${longest} of max_prompt_length ${cfg.data.max_prompt_length}`);
  say(`training set (data.train):`);
  if ("path" in cfg.data.train) say(`  ${describePath(cfg.data.train.path)}`);
  say(`  ${ds.total} prompts, ${ds.rows.length} kept, ${ds.filteredTooLong} longer than max_prompt_length`);

  const plan = memoryPlan(model, cfg);
  const machineBytes = o.machineBytes ?? totalmem();
  say(`memory plan (native engine, f32 compute; prompts ≤ ${cfg.data.max_prompt_length} + responses ≤ ${cfg.data.max_response_length} tokens):`);
  for (const p of plan.processes) {
    say(`  ${p.process}${p.count > 1 ? ` × ${p.count}` : ""}: ${gib(p.bytes)}${p.count > 1 ? ` each` : ""}`);
    const w = Math.max(...p.items.map((i) => i.component.length));
    for (const i of p.items) say(`    ${i.component.padEnd(w)}  ${(i.approx ? "≈" : " ") + gib(i.bytes).padStart(10)}  ${i.detail}`);
  }
  const fits = plan.total <= machineBytes;
  say(`  total on one machine: ${gib(plan.total)}; this machine has ${gib(machineBytes)} (os.totalmem())`);
  say(fits
    ? `fits: ${gib(plan.total)} of ${gib(machineBytes)}`
    : `does NOT fit: it would need ${gib(plan.total)} of memory (${gib(plan.total - machineBytes)} more than this machine's ${gib(machineBytes)}); ` +
      `the largest process, the ${[...plan.processes].sort((a, b) => b.bytes - a.bytes)[0].process}, alone needs ${gib(Math.max(...plan.processes.map((p) => p.bytes)))}`);
  return { lines: out, plan, fits, machineBytes, checkpoint: ck };
}
