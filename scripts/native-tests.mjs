#!/usr/bin/env node
// Builds and runs the native tests (native/test/*.cc against native/core, no Node, no N-API).
//   node scripts/native-tests.mjs [--tsan] [--pool FILE] [-- args for the test program]
// --tsan builds with ThreadSanitizer (npm run test:tsan); --pool FILE compiles FILE in place of
// native/core/threadpool.cc (to show that the stress test catches a broken pool).
// The flags are the addon's (binding.gyp): x86-64-v3 for every machine, never -march=native (the AVX-512
// kernels carry their own target pragma and run only where the CPU has them).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash < 0 ? argv : argv.slice(0, dash);
const pass = dash < 0 ? [] : argv.slice(dash + 1);
const tsan = own.includes("--tsan");
const poolAt = own.indexOf("--pool");
const pool = poolAt >= 0 ? resolve(own[poolAt + 1]) : null;

const core = join(root, "native", "core"), tests = join(root, "native", "test");
let sources = readdirSync(core).filter((f) => f.endsWith(".cc")).map((f) => join(core, f));
if (pool) sources = sources.filter((f) => !f.endsWith("threadpool.cc")).concat(pool);
sources = sources.concat(readdirSync(tests).filter((f) => f.endsWith(".cc")).map((f) => join(tests, f)));

const outDir = join(root, "native", "build", "tests");
mkdirSync(outDir, { recursive: true });
const exe = join(outDir, `zs_native_tests${tsan ? "_tsan" : ""}${pool ? "_pool" : ""}`);
const flags = ["-std=gnu++17", "-march=x86-64-v3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wall",
  "-Wno-unused-function", "-I", core, "-I", tests];
if (tsan) flags.push("-fsanitize=thread", "-O1", "-g");
else flags.push("-O3");

// headers count too: every file of core/ and test/, the swapped-in pool, and this script (its flags)
const inputs = [core, tests].flatMap((d) => readdirSync(d).map((f) => join(d, f))).concat(pool ?? [], fileURLToPath(import.meta.url));
const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
if (!existsSync(exe) || statSync(exe).mtimeMs < newest) {
  const cxx = process.env.CXX ?? "g++";
  process.stderr.write(`[native-tests] building ${exe.slice(root.length + 1)}${tsan ? " (ThreadSanitizer)" : ""}\n`);
  const b = spawnSync(cxx, [...flags, ...sources, "-o", exe], { stdio: "inherit" });
  if (b.error) { console.error(`cannot run ${cxx}: ${b.error.message} (apt-get install g++)`); process.exit(1); }
  if (b.status !== 0) {
    if (tsan) console.error("the ThreadSanitizer build failed: is libtsan installed? (apt-get install libtsan2)");
    process.exit(b.status ?? 1);
  }
}
// halt_on_error: the first race fails the run; history_size: longer stacks for the reports
const env = { ...process.env, TSAN_OPTIONS: `halt_on_error=1 second_deadlock_stack=1 history_size=4 ${process.env.TSAN_OPTIONS ?? ""}` };
const r = spawnSync(exe, pass, { stdio: "inherit", env });
if (r.signal) { console.error(`the native tests died with ${r.signal}`); process.exit(1); }
process.exit(r.status ?? 1);
