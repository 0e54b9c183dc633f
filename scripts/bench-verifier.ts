// `npm run bench -- verifier [--json] [--subset]`: the mutation benchmark of issue 20. From the vendored
// gold answers (MATH-500, AIME 2024/2025, AMC 2023, DeepScaleR's AMC/AIME answers and 800 of its MATH
// answers; loaders/verifier-cases.ts loadBenchGolds), equal rewrites that must be paid and wrong variants
// that must not (domain/reward/mutations.ts), scored by base_acc with the strict format
// (base_acc@1{format_mode=strict}). Prints the false-accept and false-reject rate of each kind, the totals,
// the slowest verdict and how many passed the time limit. Targets: false accepts ≤ 0.5 %, false rejects
// ≤ 2 %, no kind above 5 %, no verdict over the limit. --subset: the golds test/reward/mutations.test.ts uses.
import { cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { benchSubset, loadBenchGolds } from "../loaders/verifier-cases.ts";
import { runMutationBench } from "../domain/reward/mutation-bench.ts";
import { resolveReward } from "../domain/reward/registry.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean", default: false }, subset: { type: "boolean", default: false } } });
  const all = loadBenchGolds(root);
  const golds = values.subset ? benchSubset(all) : all;
  const spec = resolveReward("base_acc", { formatMode: "strict" });
  const t0 = performance.now();
  const r = runMutationBench(golds, spec);
  const seconds = (performance.now() - t0) / 1000;
  const targets = { falseAccept: 0.005, falseReject: 0.02, perKind: 0.05 };
  const met = r.falseAcceptRate <= targets.falseAccept && r.falseRejectRate <= targets.falseReject && r.kinds.every((k) => k.rate <= targets.perKind) && r.overLimit === 0;
  if (values.json) {
    process.stdout.write(JSON.stringify({ ...r, seconds, cpu: cpus()[0]?.model, targets, met }) + "\n");
    return 0;
  }
  const out = [`verifier mutation benchmark: ${r.golds} gold answers, ${r.verdicts} verdicts in ${seconds.toFixed(1)} s (${cpus()[0]?.model})`,
    `  false accepts ${pct(r.falseAcceptRate)} (target ≤ 0.5%), false rejects ${pct(r.falseRejectRate)} (target ≤ 2%), slowest verdict ${r.maxMs.toFixed(0)} ms, over the ${spec.timeoutMs ?? 2000} ms limit: ${r.overLimit}, errors: ${r.errors}`,
    "  kind                  must   n      wrong  rate"];
  for (const k of [...r.kinds].sort((a, b) => (a.expect === b.expect ? a.kind.localeCompare(b.kind) : a.expect === "pass" ? -1 : 1))) {
    out.push(`  ${k.kind.padEnd(21)} ${k.expect.padEnd(6)} ${String(k.n).padEnd(6)} ${String(k.wrong).padEnd(6)} ${pct(k.rate)}`);
    for (const e of k.examples) out.push(`      ${e}`);
  }
  out.push(met ? "  targets met" : "  TARGETS MISSED");
  process.stdout.write(out.join("\n") + "\n");
  return 0;
}
