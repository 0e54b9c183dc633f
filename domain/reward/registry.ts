// Reward functions are registry entries (name + version), chosen once at start-up.
//   base_acc@1    1.0 when format (loose, MindSpeed-RL's current regex) AND accuracy hold, else 0.0
//   base_acc_strict@1  the same with MindSpeed-RL's original strict format check
//   format_acc@1  formatWeight·format + accuracyWeight·accuracy (defaults 0.1 / 0.9)
//   acc@1         accuracy only (format is still reported)
// A scorer's id names the entry and every setting that differs from the entry's own, so two settings
// that can give different verdicts never share an id: `base_acc@1` (the entry as registered),
// `base_acc@1{format_mode=strict}`, `format_acc@1{accuracy_weight=0.8,format_weight=0.2}`.
import { DEFAULT_TIMEOUT_MS, RewardSpec, UnknownRewardError, type FormatMode } from "./types.ts";

export type RewardOptions = {
  formatWeight?: number; accuracyWeight?: number; formatMode?: FormatMode; answerSource?: RewardSpec["answerSource"];
  requireFormat?: boolean; timeoutMs?: number;
};

// every setting of a spec that can change a verdict, by the name it has in configs and ids (sorted)
const SETTINGS: readonly { key: string; field: keyof RewardOptions; kind: "number" | "string" | "boolean" }[] = [
  { key: "accuracy_weight", field: "accuracyWeight", kind: "number" },
  { key: "answer_source", field: "answerSource", kind: "string" },
  { key: "format_mode", field: "formatMode", kind: "string" },
  { key: "format_weight", field: "formatWeight", kind: "number" },
  { key: "require_format", field: "requireFormat", kind: "boolean" },
  { key: "timeout_ms", field: "timeoutMs", kind: "number" },
];

const entries = new Map<string, RewardSpec>();

export function registerReward(spec: RewardSpec): void {
  const parsed = RewardSpec.parse(spec);
  entries.set(`${parsed.name}@${parsed.version}`, parsed);
}

registerReward({ name: "base_acc", version: 1, formatMode: "loose", requireFormat: true, formatWeight: 0, accuracyWeight: 1, answerSource: "boxed" });
registerReward({ name: "base_acc_strict", version: 1, formatMode: "strict", requireFormat: true, formatWeight: 0, accuracyWeight: 1, answerSource: "boxed" });
registerReward({ name: "format_acc", version: 1, formatMode: "loose", requireFormat: false, formatWeight: 0.1, accuracyWeight: 0.9, answerSource: "boxed" });
registerReward({ name: "acc", version: 1, formatMode: "loose", requireFormat: false, formatWeight: 0, accuracyWeight: 1, answerSource: "boxed" });

/** The names of every registered reward as `name@version`. */
export function rewardNames(): string[] {
  return [...entries.keys()].sort();
}

const ID = /^([a-z0-9_]+)(?:@(\d+))?(?:\{([^{}]*)\})?$/;

/** The settings written in an id's braces: `format_mode=strict,timeout_ms=5000`. */
function parseSettings(id: string, body: string): RewardOptions {
  const out: Record<string, unknown> = {};
  for (const part of body.split(",").filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq), raw = part.slice(eq + 1);
    const s = SETTINGS.find((x) => x.key === key);
    if (eq <= 0 || !s) throw new UnknownRewardError(`reward '${id}': unknown setting '${part}'; settings are ${SETTINGS.map((x) => x.key).join(", ")}`);
    const value = s.kind === "number" ? Number(raw) : s.kind === "boolean" ? (raw === "true" ? true : raw === "false" ? false : undefined) : raw;
    if (value === undefined || (typeof value === "number" && !Number.isFinite(value))) throw new UnknownRewardError(`reward '${id}': ${key}=${raw} is not a ${s.kind}`);
    out[s.field] = value;
  }
  return out as RewardOptions;
}

/**
 * Resolve `name`, `name@version` (latest version when omitted) or a full scorer id
 * `name@version{key=value,...}`, with optional overrides on top.
 */
export function resolveReward(id: string, options: RewardOptions = {}): RewardSpec {
  const m = ID.exec(id);
  if (!m) throw new UnknownRewardError(`'${id}' is not a reward id: <name>[@<version>][{setting=value,...}]`);
  const [, name, v, body] = m;
  let spec: RewardSpec | undefined;
  if (v !== undefined) spec = entries.get(`${name}@${v}`);
  else spec = [...entries.values()].filter((e) => e.name === name).sort((a, b) => b.version - a.version)[0];
  if (!spec) throw new UnknownRewardError(`unknown reward function '${id}'; registered: ${rewardNames().join(", ")}`);
  const set = (o: RewardOptions) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
  const r = RewardSpec.safeParse({ timeoutMs: DEFAULT_TIMEOUT_MS, ...spec, ...set(body === undefined ? {} : parseSettings(id, body)), ...set(options) });
  if (!r.success) throw new UnknownRewardError(`reward '${id}': ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  // a reward that needs format AND accuracy is 1 or 0: weights would be accepted and never used
  if (r.data.requireFormat && (r.data.formatWeight !== spec.formatWeight || r.data.accuracyWeight !== spec.accuracyWeight)) {
    throw new UnknownRewardError(`reward '${id}' is 1 only when format AND accuracy hold: format_weight / accuracy_weight do not apply to it (they weigh the parts of format_acc and acc)`);
  }
  return r.data;
}

const valueOf = (spec: Partial<RewardSpec>, field: keyof RewardOptions): unknown =>
  field === "timeoutMs" ? (spec.timeoutMs ?? DEFAULT_TIMEOUT_MS) : spec[field];

/**
 * The scorer id recorded in GroupScored, PolicyUpdated and Evaluated events: `name@version`, followed
 * by `{key=value,...}` (sorted keys) for every setting that differs from the registered entry, so the
 * default settings keep the plain id and any other verdict-changing setting gets its own. A spec of an
 * entry this registry does not know names all its settings.
 */
export function rewardId(spec: RewardSpec): string {
  const base = entries.get(`${spec.name}@${spec.version}`);
  const diff = SETTINGS.filter((s) => !base || valueOf(spec, s.field) !== valueOf(base, s.field)).map((s) => `${s.key}=${String(valueOf(spec, s.field))}`);
  return `${spec.name}@${spec.version}${diff.length ? `{${diff.join(",")}}` : ""}`;
}

/** `name@version` of a scorer id (what ids were before they named settings). */
export function baseRewardId(id: string): string {
  const i = id.indexOf("{");
  return i === -1 ? id : id.slice(0, i);
}

/**
 * The scorer id of a recorded GroupScored, from the spec it recorded (rewardConfig), so events written
 * before ids named their settings (`base_acc@1` for a strict base_acc) read under their full id. A
 * record without a time limit was scored under the run's (`runTimeoutMs`).
 */
export function scorerOfRecord(e: { scorer: string; rewardConfig: Record<string, unknown> }, runTimeoutMs?: number): string {
  const r = RewardSpec.safeParse(e.rewardConfig);
  if (!r.success) return e.scorer;
  return rewardId(r.data.timeoutMs === undefined && runTimeoutMs !== undefined ? { ...r.data, timeoutMs: runTimeoutMs } : r.data);
}

/**
 * The scorer id of a recorded PolicyUpdated: an update always used its run's reward, so a plain
 * `name@version` written before ids named their settings is the run's full id.
 */
export function scorerOfUpdate(recorded: string, runScorer: string): string {
  return recorded === baseRewardId(runScorer) ? runScorer : recorded;
}

/** Combine the parts into the reward, as the spec says. */
export function combine(spec: RewardSpec, format: number, accuracy: number): number {
  if (spec.requireFormat) return format === 1 && accuracy === 1 ? 1 : 0;
  return spec.formatWeight * format + spec.accuracyWeight * accuracy;
}
