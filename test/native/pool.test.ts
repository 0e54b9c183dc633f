// The engine's thread pool under concurrent callers: every index of every parallel_for call runs
// exactly once, with its own closure, in range, never after its call returned — from several
// libuv threads at once (as generators' and the updater's AsyncWorkers) while the thread count
// changes. Then the pure C++ tests of native/test, plain and under ThreadSanitizer.
// (Before the per-call Job, this stress hung or ran items twice within seconds on AMD and Intel.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("thread pool: concurrent callers through the addon, every item exactly once (no hang)", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "test/native/pool-stress.child.ts"), "4000", "3"],
    { cwd: root, encoding: "utf8", timeout: 90_000 });
  assert.ok(!r.error && r.signal === null, `the stress child hung or died (${r.error?.message ?? r.signal}): ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
  console.log(`  ${res.callers} callers, ${res.calls} calls, ${res.items} items, thread count changed ${res.flips} times:` +
    ` missing ${res.missing}, duplicate ${res.duplicate}, out of range ${res.outOfRange}, late ${res.late}, bad tid ${res.badTid}`);
  assert.ok(res.calls > 1000, `too few calls to mean anything (${res.calls})`);
  for (const k of ["missing", "duplicate", "outOfRange", "late", "badTid"]) assert.equal(res[k], 0, `${k}: ${res[k]}`);
});

function nativeTests(extra: string[]): void {
  const r = spawnSync(process.execPath, [join(root, "scripts/native-tests.mjs"), ...extra, "--", "--seconds", "3"],
    { cwd: root, encoding: "utf8", timeout: 600_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  for (const line of out.split("\n")) if (/^(ok|not ok|native tests:|\s{4}\S)/.test(line)) console.log(`  ${line.trim()}`);
  assert.ok(!r.error, `native tests did not finish: ${r.error?.message}`);
  assert.equal(r.status, 0, out.slice(-4000));
  assert.match(out, /native tests: \d+ ok, 0 not ok/);
}

test("native/test: kernels vs _ref, thread-count invariance, concurrent callers (plain build)", () => nativeTests([]));

test("native/test under ThreadSanitizer: no data race in the pool, kernels or model calls", () => nativeTests(["--tsan"]));
