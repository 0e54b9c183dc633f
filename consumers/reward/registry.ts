// Reward functions are registry entries (name + version), chosen once at start-up.
//   base_acc@1    1.0 when format (loose, MindSpeed-RL's current regex) AND accuracy hold, else 0.0
//   base_acc_strict@1  the same with MindSpeed-RL's original strict format check
//   format_acc@1  formatWeight·format + accuracyWeight·accuracy (defaults 0.1 / 0.9)
//   acc@1         accuracy only (format is still reported)
import { RewardSpec, UnknownRewardError, type FormatMode } from "./types.ts";

export type RewardOptions = { formatWeight?: number; accuracyWeight?: number; formatMode?: FormatMode; answerSource?: RewardSpec["answerSource"] };

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

/** Resolve `name` or `name@version` (latest version when omitted), with optional overrides. */
export function resolveReward(id: string, options: RewardOptions = {}): RewardSpec {
  const [name, v] = id.split("@");
  let spec: RewardSpec | undefined;
  if (v !== undefined) spec = entries.get(`${name}@${v}`);
  else spec = [...entries.values()].filter((e) => e.name === name).sort((a, b) => b.version - a.version)[0];
  if (!spec) throw new UnknownRewardError(`unknown reward function '${id}'; registered: ${rewardNames().join(", ")}`);
  return RewardSpec.parse({ ...spec, ...Object.fromEntries(Object.entries(options).filter(([, x]) => x !== undefined)) });
}

/** The version string recorded in GroupScored events, e.g. "base_acc@1". */
export function rewardId(spec: RewardSpec): string {
  return `${spec.name}@${spec.version}`;
}

/** Combine the parts into the reward, as the spec says. */
export function combine(spec: RewardSpec, format: number, accuracy: number): number {
  if (spec.requireFormat) return format === 1 && accuracy === 1 ? 1 : 0;
  return spec.formatWeight * format + spec.accuracyWeight * accuracy;
}
