// `zerostream forward --model <dir>`: JSON lines in, logits per position out, equal to the fixtures.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { errors, fixtures, readSafetensors } from "./helpers.ts";

test("forward command prints the logits of each input line", () => {
  const exp = readSafetensors(join(fixtures, "expected.safetensors"));
  const tokens = Array.from(exp.get("tokens")!.data as Int32Array), lens = Array.from(exp.get("seq_lens")!.data as Int32Array);
  const seqs: number[][] = [];
  for (let i = 0, at = 0; i < lens.length; at += lens[i++]) seqs.push(tokens.slice(at, at + lens[i]));
  const bin = join(fixtures, "..", "..", "..", "cli", "bin.mjs");
  const r = spawnSync(process.execPath, [bin, "forward", "--model", fixtures], { input: seqs.map((t) => JSON.stringify({ tokens: t })).join("\n") + "\n", encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { logits: number[][] });
  assert.equal(lines.length, seqs.length);
  const got = lines.flatMap((l) => l.logits.flat());
  const e = errors(got, exp.get("logits")!.data as Float32Array);
  console.log(`  forward command vs torch: max-abs ${e.maxAbs.toExponential(2)} rel ${e.rel.toExponential(2)}`);
  assert.ok(e.rel < 1e-5);
  const bad = spawnSync(process.execPath, [bin, "forward", "--model", fixtures], { input: '{"tokens":[999]}\n', encoding: "utf8" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /line 1/);
});
