// `zerostream bench <suite> [--json]`: runs a benchmark suite. Each suite is a module under
// scripts/ exporting `run(argv): Promise<number>`.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const summary = "run a benchmark suite: native | reward | verifier | step | offpolicy | cluster | chaos | scale | real-shape | transport | aha (npm run bench -- <suite>)";
const scripts = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts");
const suites: Record<string, string> = {
  native: "bench-native.ts",
  reward: "bench-reward.ts",
  verifier: "bench-verifier.ts",
  step: "bench-step.ts",
  offpolicy: "bench-offpolicy.ts", // long (9 tiny runs): only when named
  cluster: "bench-cluster.ts",
  chaos: "bench-chaos.ts", // a check more than a figure, and long: only when named
  scale: "bench-scale.ts", // N simulated generators on the bus (issue 17): minutes, only when named
  "real-shape": "bench-real-shape.ts", // a 0.5B-shaped GRPO step: 16 GiB and 15-25 minutes, only when named
  aha: "bench-aha.ts", // issue 19's experiment: 3 seeds of configs/tiny-aha.yaml, ~15 min each, only when named
  transport: "bench-transport.ts", // full vs chunked vs delta weights to a generator, densities measured (issue 17): 0.5B shape, ~12 GiB, only when named
};
const onlyWhenNamed = new Set(["aha", "chaos", "offpolicy", "real-shape", "scale", "transport"]);

export async function run(argv: string[]): Promise<number> {
  const [suite, ...rest] = argv;
  const names = Object.keys(suites).filter((s) => existsSync(join(scripts, suites[s])));
  const chosen = suite ? [suite] : names.filter((s) => !onlyWhenNamed.has(s));
  for (const s of chosen) {
    if (!suites[s] || !existsSync(join(scripts, suites[s]))) {
      process.stderr.write(`unknown or unbuilt benchmark suite '${s}'; available: ${names.join(", ") || "none yet"}\n`);
      return 2;
    }
    const mod = (await import(join(scripts, suites[s]))) as { run(a: string[]): Promise<number> };
    const rc = await mod.run(rest);
    if (rc !== 0) return rc;
  }
  return 0;
}
