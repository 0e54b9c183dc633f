// Model folders in Hugging Face's published layout: config.json, and the weights as one model.safetensors or
// as shards named by model.safetensors.index.json (weight_map). inspectCheckpoint reads the config and the
// shards' headers only (never the tensor data) and checks every tensor's name, shape and dtype against the
// Qwen2 the config describes, with a named error for anything the engine cannot load; Policy.load then maps
// the shards into the engine. writeCheckpoint writes a folder in the same layout (sharded at a size limit,
// bf16 or f32), from tensors in memory or, for shape-only folders, from headers alone.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseModelConfig, type Qwen2Config } from "../streams/config.ts";

/** A model folder the engine cannot load: the message names the file, the tensor and what was expected. */
export class CheckpointError extends Error {
  constructor(message: string) { super(message); this.name = "CheckpointError"; }
}

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
const DTYPE_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2 };
const MAX_HEADER = 100 * 1024 * 1024;  // safetensors' own limit on the header's length

export type SafetensorsEntry = { dtype: string; shape: number[]; begin: number; end: number };
export type SafetensorsHeader = { file: string; headerBytes: number; fileBytes: number; tensors: Map<string, SafetensorsEntry> };

/** The header of a safetensors file (the first 8 + N bytes; the data is not read). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openSync(file, "r");
  try {
    const fileBytes = fstatSync(fd).size;
    const len = Buffer.alloc(8);
    if (fileBytes < 8 || readSync(fd, len, 0, 8, 0) !== 8) throw new CheckpointError(`${file}: too short for a safetensors file (${fileBytes} bytes)`);
    const hl = Number(len.readBigUInt64LE(0));
    if (hl > MAX_HEADER || hl > fileBytes - 8) throw new CheckpointError(`${file}: header length ${hl} past the end of the file (${fileBytes} bytes): not a safetensors file`);
    const buf = Buffer.alloc(hl);
    readSync(fd, buf, 0, hl, 8);
    let raw: Record<string, unknown>;
    try { raw = JSON.parse(buf.toString("utf8")); } catch (e) { throw new CheckpointError(`${file}: the safetensors header is not JSON (${(e as Error).message})`); }
    const tensors = new Map<string, SafetensorsEntry>();
    for (const [name, v] of Object.entries(raw)) {
      if (name === "__metadata__") continue;
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e?.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
        throw new CheckpointError(`${file}: tensor ${name} has no dtype, shape and data_offsets in the header`);
      }
      tensors.set(name, { dtype: e.dtype, shape: e.shape as number[], begin: e.data_offsets[0] as number, end: e.data_offsets[1] as number });
    }
    return { file, headerBytes: 8 + hl, fileBytes, tensors };
  } finally {
    closeSync(fd);
  }
}

/** The tensors of a Qwen2ForCausalLM of this config, by their Hugging Face names, in the engine's table order. */
export function qwen2TensorShapes(c: Qwen2Config): Map<string, number[]> {
  const D = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const C = c.hidden_size, HD = c.num_attention_heads * D, KD = c.num_key_value_heads * D, F = c.intermediate_size, V = c.vocab_size;
  const t = new Map<string, number[]>();
  t.set("model.embed_tokens.weight", [V, C]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    t.set(p + "input_layernorm.weight", [C]);
    t.set(p + "self_attn.q_proj.weight", [HD, C]);
    t.set(p + "self_attn.k_proj.weight", [KD, C]);
    t.set(p + "self_attn.v_proj.weight", [KD, C]);
    t.set(p + "self_attn.q_proj.bias", [HD]);
    t.set(p + "self_attn.k_proj.bias", [KD]);
    t.set(p + "self_attn.v_proj.bias", [KD]);
    t.set(p + "self_attn.o_proj.weight", [C, HD]);
    t.set(p + "post_attention_layernorm.weight", [C]);
    t.set(p + "mlp.gate_proj.weight", [F, C]);
    t.set(p + "mlp.up_proj.weight", [F, C]);
    t.set(p + "mlp.down_proj.weight", [C, F]);
  }
  t.set("model.norm.weight", [C]);
  if (!c.tie_word_embeddings) t.set("lm_head.weight", [V, C]);
  return t;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const shapeStr = (s: number[]) => `[${s.join(", ")}]`;

export type CheckpointTensor = { name: string; shape: number[]; dtype: string; file: string };
export type Checkpoint = {
  dir: string;
  config: Qwen2Config;
  /** the weight files, in the order Policy.load maps them (one, or the index's shards sorted by name) */
  files: string[];
  sharded: boolean;
  tensors: CheckpointTensor[];
  /** tensors in the files that the engine does not use (lm_head.weight of a tied head, rotary inv_freq) */
  ignored: string[];
  dtypes: string[];
  numParams: number;
  /** bytes of tensor data the folder's headers describe */
  weightBytes: number;
  /** false when some shard holds its header but not its data (a shape-only folder: inspect with headersOnly) */
  dataPresent: boolean;
};

/** Reads config.json's architecture fields and refuses what the engine does not run, naming the field. */
export function checkArchitecture(raw: Record<string, unknown>, file: string): void {
  const archs = raw.architectures;
  if (archs !== undefined && !(Array.isArray(archs) && archs.includes("Qwen2ForCausalLM"))) {
    throw new CheckpointError(`${file}: architectures is ${JSON.stringify(archs)}; the engine runs Qwen2ForCausalLM (Qwen2, Qwen2.5) only`);
  }
  if (raw.model_type !== undefined && raw.model_type !== "qwen2") {
    throw new CheckpointError(`${file}: model_type is ${JSON.stringify(raw.model_type)}; the engine runs model_type "qwen2" (Qwen2, Qwen2.5) only`);
  }
  if (raw.use_sliding_window === true) {
    throw new CheckpointError(`${file}: use_sliding_window is true (sliding_window ${JSON.stringify(raw.sliding_window)}, max_window_layers ${JSON.stringify(raw.max_window_layers)}); the engine runs full attention only: set use_sliding_window to false (published Qwen2.5 models do)`);
  }
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null) {
    throw new CheckpointError(`${file}: rope_scaling is ${JSON.stringify(raw.rope_scaling)}; the engine runs plain RoPE (rope_theta) only`);
  }
  if (raw.hidden_act !== undefined && raw.hidden_act !== "silu") {
    throw new CheckpointError(`${file}: hidden_act is ${JSON.stringify(raw.hidden_act)}; the engine's MLP is SwiGLU (silu)`);
  }
}

/**
 * Reads a model folder's config.json, index and safetensors headers and checks them against the Qwen2 the
 * config describes. headersOnly: shards may hold their headers without the data (a shape-only folder for a
 * dry run); otherwise each tensor's bytes must be in its file.
 */
export function inspectCheckpoint(dir: string, o: { headersOnly?: boolean } = {}): Checkpoint {
  const cfgFile = join(dir, "config.json");
  if (!existsSync(cfgFile)) throw new CheckpointError(`${dir}: no config.json (a model folder holds config.json and ${SINGLE_FILE} or ${INDEX_FILE} with its shards)`);
  let raw: Record<string, unknown>;
  try { raw = JSON.parse(readFileSync(cfgFile, "utf8")); } catch (e) { throw new CheckpointError(`${cfgFile}: not JSON (${(e as Error).message})`); }
  checkArchitecture(raw, cfgFile);
  const config = parseModelConfig(raw, cfgFile);

  // which file holds which tensor
  const indexFile = join(dir, INDEX_FILE);
  let files: string[];
  let weightMap: Map<string, string> | null = null;
  if (existsSync(indexFile)) {
    let idx: { weight_map?: unknown };
    try { idx = JSON.parse(readFileSync(indexFile, "utf8")); } catch (e) { throw new CheckpointError(`${indexFile}: not JSON (${(e as Error).message})`); }
    if (typeof idx.weight_map !== "object" || idx.weight_map === null || Array.isArray(idx.weight_map)) throw new CheckpointError(`${indexFile}: no weight_map object (tensor name → shard file)`);
    weightMap = new Map(Object.entries(idx.weight_map as Record<string, unknown>).map(([k, v]) => {
      if (typeof v !== "string" || v.includes("/") || v.includes("\\")) throw new CheckpointError(`${indexFile}: weight_map["${k}"] is ${JSON.stringify(v)}, not a file name in the folder`);
      return [k, v];
    }));
    const shards = [...new Set(weightMap.values())].sort();
    if (shards.length === 0) throw new CheckpointError(`${indexFile}: weight_map is empty`);
    for (const s of shards) {
      if (!existsSync(join(dir, s))) {
        const names = [...weightMap].filter(([, f]) => f === s).map(([n]) => n);
        throw new CheckpointError(`${dir}: missing shard ${s} (${INDEX_FILE} puts ${names.length} tensors there, e.g. ${names[0]})`);
      }
    }
    files = shards.map((s) => join(dir, s));
  } else if (existsSync(join(dir, SINGLE_FILE))) {
    files = [join(dir, SINGLE_FILE)];
  } else {
    throw new CheckpointError(`${dir}: no ${SINGLE_FILE} and no ${INDEX_FILE}`);
  }

  const expected = qwen2TensorShapes(config);
  const found = new Map<string, SafetensorsEntry & { file: string }>();
  const ignored: string[] = [];
  let dataPresent = true;
  for (const file of files) {
    const h = readSafetensorsHeader(file);
    const body = h.fileBytes - h.headerBytes;
    for (const [name, e] of h.tensors) {
      if (!expected.has(name)) {
        if ((name === "lm_head.weight" && config.tie_word_embeddings) || name.endsWith(".rotary_emb.inv_freq")) { ignored.push(name); continue; }
        throw new CheckpointError(`${file}: unexpected tensor ${name} ${shapeStr(e.shape)}: not part of a Qwen2ForCausalLM with this config.json` +
          (name === "lm_head.weight" ? "" : ` (${config.num_hidden_layers} layers)`));
      }
      const other = found.get(name);
      if (other) throw new CheckpointError(`tensor ${name} is in two files: ${other.file} and ${file}`);
      const want = expected.get(name)!;
      if (e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i])) {
        throw new CheckpointError(`${file}: tensor ${name} has shape ${shapeStr(e.shape)}, config.json needs ${shapeStr(want)}`);
      }
      const es = DTYPE_BYTES[e.dtype];
      if (!es) throw new CheckpointError(`${file}: tensor ${name} has dtype ${e.dtype}; the engine loads F32, BF16 or F16`);
      if (e.end - e.begin !== numel(want) * es || e.begin < 0) throw new CheckpointError(`${file}: tensor ${name}'s data_offsets [${e.begin}, ${e.end}] do not hold ${numel(want)} ${e.dtype} values`);
      if (e.end > body) {
        if (!o.headersOnly) throw new CheckpointError(`${file}: tensor ${name} ends at byte ${e.end} of the data but the file holds ${body} (a truncated file?)`);
        dataPresent = false;
      }
      if (weightMap && weightMap.get(name) !== undefined && join(dir, weightMap.get(name)!) !== file) {
        throw new CheckpointError(`${INDEX_FILE} puts ${name} in ${weightMap.get(name)} but it is in ${file}`);
      }
      found.set(name, { ...e, file });
    }
  }
  for (const [name, shape] of expected) {
    if (!found.has(name)) {
      const where = weightMap?.get(name);
      const hint = name === "lm_head.weight" ? " (config.json's tie_word_embeddings is not true, so the head is its own tensor)" : "";
      throw new CheckpointError(`${dir}: tensor ${name} ${shapeStr(shape)} is missing${where ? ` from ${where}, where ${INDEX_FILE} puts it` : ""}${hint}`);
    }
  }
  if (weightMap) {
    for (const name of weightMap.keys()) {
      if (!found.has(name) && !ignored.includes(name)) throw new CheckpointError(`${INDEX_FILE} names ${name} in ${weightMap.get(name)}, which does not hold it`);
    }
  }
  const tensors = [...expected.keys()].map((name) => { const f = found.get(name)!; return { name, shape: f.shape, dtype: f.dtype, file: f.file }; });
  return {
    dir, config, files, sharded: weightMap !== null, tensors, ignored,
    dtypes: [...new Set(tensors.map((t) => t.dtype))].sort(),
    numParams: tensors.reduce((a, t) => a + numel(t.shape), 0),
    weightBytes: tensors.reduce((a, t) => a + numel(t.shape) * DTYPE_BYTES[t.dtype], 0),
    dataPresent,
  };
}

// ---- writing ----

/** Round to nearest even, as PyTorch's float → bfloat16 (NaN kept a quiet NaN). */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    if ((x & 0x7fffffff) > 0x7f800000) { out[i] = (x >>> 16) | 0x40; continue; }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

export type WeightDtype = "bf16" | "f32";
export type TensorSource = { name: string; shape: number[]; data: Float32Array | null };
export type WriteOptions = {
  dtype: WeightDtype;
  /** a shard is closed before it would pass this many bytes of data (one tensor larger than it gets a shard of its own) */
  maxShardBytes?: number;
  /** write the headers and no data (a shape-only folder for dry runs): tensors' data may be null */
  headersOnly?: boolean;
  /** extra keys for config.json (torch_dtype is set from dtype) */
  configExtra?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** copy tokenizer.json and tokenizer_config.json (and any of the other tokenizer files) from this folder */
  tokenizerDir?: string;
};

function writeAll(fd: number, b: Uint8Array): void {
  for (let at = 0; at < b.length;) at += writeSync(fd, b, at, b.length - at);
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"];

/**
 * Writes a model folder in the published layout: config.json, generation_config.json, the weights as one
 * model.safetensors or, past maxShardBytes, model-0000i-of-0000n.safetensors with model.safetensors.index.json,
 * and the tokenizer files. Tensors are written in the order given; each shard's header is canonical
 * (sorted keys as Hugging Face writes them, 8-byte aligned), so the same tensors give the same bytes.
 */
export function writeCheckpoint(dir: string, config: Qwen2Config, tensors: TensorSource[], o: WriteOptions): { files: string[]; weightBytes: number } {
  const es = o.dtype === "bf16" ? 2 : 4;
  const st = o.dtype === "bf16" ? "BF16" : "F32";
  const limit = o.maxShardBytes ?? Infinity;
  const shards: TensorSource[][] = [[]];
  let size = 0, total = 0;
  for (const t of tensors) {
    const n = numel(t.shape) * es;
    if (size > 0 && size + n > limit) { shards.push([]); size = 0; }
    shards[shards.length - 1].push(t);
    size += n;
    total += n;
  }
  mkdirSync(dir, { recursive: true });
  const names = shards.length === 1 ? [SINGLE_FILE]
    : shards.map((_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    let at = 0;
    for (const t of [...shard].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const n = numel(t.shape) * es;
      header[t.name] = { dtype: st, shape: t.shape, data_offsets: [at, at + n] };
      at += n;
      weightMap[t.name] = names[i];
    }
    let h = JSON.stringify(header);
    while ((h.length + 8) % 8) h += " ";
    const fd = openSync(join(dir, names[i]), "w");
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
      writeAll(fd, len);
      writeAll(fd, Buffer.from(h));
      if (!o.headersOnly) {
        for (const t of [...shard].sort((a, b) => (a.name < b.name ? -1 : 1))) {
          if (!t.data || t.data.length !== numel(t.shape)) throw new CheckpointError(`writeCheckpoint: ${t.name} needs ${numel(t.shape)} values, got ${t.data?.length ?? "none"}`);
          const bytes = o.dtype === "bf16" ? f32ToBf16(t.data) : t.data;
          writeAll(fd, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        }
      }
    } finally {
      closeSync(fd);
    }
  });
  if (shards.length > 1) {
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: total }, weight_map: Object.fromEntries(Object.entries(weightMap).sort()) }, null, 2) + "\n");
  }
  const cfg = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_act: "silu", use_sliding_window: false,
    ...config, ...o.configExtra, torch_dtype: o.dtype === "bf16" ? "bfloat16" : "float32" };
  writeFileSync(join(dir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  if (o.generationConfig) writeFileSync(join(dir, "generation_config.json"), JSON.stringify(o.generationConfig, null, 2) + "\n");
  if (o.tokenizerDir) {
    for (const f of TOKENIZER_FILES) if (existsSync(join(o.tokenizerDir, f))) writeFileSync(join(dir, f), readFileSync(join(o.tokenizerDir, f)));
  }
  return { files: names, weightBytes: total };
}
