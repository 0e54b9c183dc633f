// The import directions between rooms (.dependency-cruiser.cjs) hold on the whole tree, and the check
// does catch an import against them (a probe tree in a temp dir with one forbidden edge per rule).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin", "depcruise");
const config = join(root, ".dependency-cruiser.cjs");

function cruise(cwd: string, dirs: string[]) {
  const r = spawnSync(bin, ["--config", config, "--output-type", "json", ...dirs], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.ok(r.stdout, `depcruise printed nothing: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[]; totalCruised: number } };
  return out.summary;
}

test("no import in the tree goes against the allowed directions", () => {
  const rooms = ["cli", "producers", "consumers", "offline", "compute", "loaders", "native", "domain", "streams", "scripts", "test"];
  const s = cruise(root, rooms);
  assert.ok(s.totalCruised > 150, `cruised only ${s.totalCruised} modules`);
  assert.deepEqual(s.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`), []);
});

test("each rule catches an import against it", () => {
  const dir = mkdtempSync(join(tmpdir(), "zs-arch-"));
  try {
    const file = (p: string, body: string) => { mkdirSync(join(dir, dirname(p)), { recursive: true }); writeFileSync(join(dir, p), body); };
    file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true } }));
    file("streams/eventlog.ts", "export const log = 1;\n");
    file("streams/events/index.ts", "export const ev = 1;\n");
    file("native/index.ts", "export const engine = 1;\n");
    file("loaders/tokenizer.ts", "export const tok = 1;\n");
    file("compute/update.ts", "export const upd = 1;\n");
    file("domain/ok.ts", 'import { ev } from "../streams/events/index.ts";\nexport const ok = ev;\n');
    file("domain/bus.ts", 'import { log } from "../streams/eventlog.ts";\nexport const b = log;\n');
    file("domain/io.ts", 'import { readFileSync } from "node:fs";\nexport const r = readFileSync;\n');
    file("consumers/reward/a.ts", 'import { g } from "../../producers/rollout/g.ts";\nexport const a = g;\n');
    file("producers/rollout/g.ts", 'export const g = 1;\n');
    file("consumers/updater/u.ts", 'import { a } from "../reward/a.ts";\nimport { t } from "../../offline/t.ts";\nexport const u = [a, t];\n');
    file("offline/t.ts", 'import { g } from "../producers/rollout/g.ts";\nexport const t = g;\n');
    file("native/bad.ts", 'import { log } from "../streams/eventlog.ts";\nexport const n = log;\n');
    file("streams/roles.ts", 'import { u } from "../consumers/updater/u.ts";\nexport const s = u;\n');
    file("loaders/bad.ts", 'import { engine } from "../native/index.ts";\nexport const l = engine;\n');
    file("compute/bad.ts", 'import { t } from "../offline/t.ts";\nexport const c = t;\n');
    const s = cruise(dir, ["streams", "native", "loaders", "compute", "domain", "consumers", "producers", "offline"]);
    const got = new Set(s.violations.map((v) => `${v.rule.name}: ${v.from}`));
    for (const want of [
      "domain-imports-only-contracts: domain/bus.ts", "domain-is-pure: domain/io.ts",
      "processes-never-import-each-other: consumers/reward/a.ts", "processes-never-import-each-other: consumers/updater/u.ts",
      "processes-import-no-tools: consumers/updater/u.ts", "offline-imports-no-processes: offline/t.ts",
      "engine-knows-no-bus: native/bad.ts", "contracts-know-no-roles: streams/roles.ts",
      "loaders-are-data-only: loaders/bad.ts", "compute-below-processes-and-tools: compute/bad.ts",
    ]) assert.ok(got.has(want), `expected a violation ${want}; got ${[...got].join("; ")}`);
    assert.ok(![...got].some((v) => v.endsWith("domain/ok.ts")), "domain → streams/events is allowed");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
