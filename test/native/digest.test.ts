// A pinned digest of the engine: the same bits on every x86-64 machine we run on (AVX2-only
// laptops, AMD Zen 4, Intel Xeon with AVX-512/AMX), whatever the thread count and whatever kernel set
// runs (native/index.ts: avx2, avx512 and avx512-bf16 are chosen at run time and compute the same bits,
// compute bf16 included). Each test checks the pins under every set this CPU has, switching in process, and
// once in a child process forced to the avx2 set by ZS_KERNELS, so every machine checks the avx2 set's bits.
// A change that is meant to change the numbers updates PINNED and says so in its commit, naming the machines
// it was checked on.
import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { KERNEL_SET_NAMES, checkCpu, getThreads, kernelSet, kernelSetsSupported, setKernelSet, setThreads, type ComputeDtype } from "../../native/index.ts";
import { engineDigest } from "./engine-digest.ts";

// First pinned on an AMD EPYC with AVX2 only (no AVX-512), 2026-11-30; the same under the avx512 and avx512-bf16
// sets on an AMD EPYC with AVX-512 and AVX512-BF16 (Zen 4), 2026-12-01.
const PINNED = "sha256:cf68821b7caf539f6a0a48eaa3f7b8db83a5701e5b65b67cf70523700a08120f";
// The same steps with model.compute_dtype bf16 (emulated: fp32 FMAs on bf16-rounded operands), first pinned on
// the same AMD EPYC (AVX2 only), 2026-11-30; vdpbf16ps (avx512-bf16, Zen 4) gives the same bits, 2026-12-01.
const PINNED_BF16 = "sha256:67766a784f2d8d8a92e659e45d8e91468d8abc3908a195483e223629d43d06fa";

function cpu(): string {
  try { return execSync("grep -m1 'model name' /proc/cpuinfo", { encoding: "utf8" }).split(":")[1].trim(); } catch { return "unknown CPU"; }
}

/** The digest under each set this CPU runs, with 1 and 2 threads; the set and thread count restored after. */
async function digestsPerSet(compute: ComputeDtype): Promise<{ set: string; threads: number; digest: string }[]> {
  const before = getThreads(), set = kernelSet();
  const out: { set: string; threads: number; digest: string }[] = [];
  try {
    for (const s of kernelSetsSupported()) {
      setKernelSet(s as "avx2");
      for (const t of [1, 2]) {
        setThreads(t);
        out.push({ set: kernelSet(), threads: t, digest: await engineDigest(compute) });
      }
    }
  } finally {
    setThreads(before);
    setKernelSet(Object.entries(KERNEL_SET_NAMES).find(([, v]) => v === set)![0] as "avx2");
  }
  return out;
}

test("engine digest: pinned, the same with 1 and 2 threads and under every kernel set this CPU has", async () => {
  const flags = (() => { try { return execSync("grep -m1 flags /proc/cpuinfo", { encoding: "utf8" }); } catch { return ""; } })();
  const runs = await digestsPerSet("f32");
  console.log(`  ${cpu()} (avx512f: ${/\bavx512f\b/.test(flags)}, avx512_bf16: ${/\bavx512_bf16\b/.test(flags)}, amx: ${/\bamx_tile\b/.test(flags)}): ${runs.map((r) => `${r.set} ×${r.threads} ${r.digest.slice(7, 19)}`).join(", ")}`);
  assert.ok(runs.length >= 2 && runs[0].set === KERNEL_SET_NAMES.avx2, "every CPU runs the avx2 set");
  for (const r of runs) assert.equal(r.digest, PINNED, `${r.set} with ${r.threads} thread(s): the engine's bits changed on this CPU (see the comment at the top of this file)`);
});

test("engine digest, compute bf16: pinned, the same with 1 and 2 threads and under every kernel set (vdpbf16ps included), not the fp32 digest", async () => {
  const runs = await digestsPerSet("bf16");
  console.log(`  ${cpu()}, compute bf16: ${runs.map((r) => `${r.set} ×${r.threads} ${r.digest.slice(7, 19)}`).join(", ")}`);
  assert.notEqual(runs[0].digest, PINNED);
  for (const r of runs) assert.equal(r.digest, PINNED_BF16, `${r.set} with ${r.threads} thread(s): the engine's bf16-compute bits changed on this CPU (see the comment at the top of this file)`);
});

const here = fileURLToPath(new URL(".", import.meta.url));
/** A child process that loads the engine with ZS_KERNELS set and prints its kernel set and the f32 digest. */
function child(zsKernels: string, digest: boolean) {
  const code = `import("./digest-child.ts").then((m) => m.main(${digest}))`;
  return spawnSync(process.execPath, ["--import", "tsx", "-e", code], { cwd: here, env: { ...process.env, ZS_KERNELS: zsKernels }, encoding: "utf8", timeout: 120_000 });
}

test("ZS_KERNELS=avx2 forces the avx2 set (its pinned digest, on every machine); a bad name or a set the CPU lacks is refused by name", () => {
  const r = child("avx2", true);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(" "), [KERNEL_SET_NAMES.avx2, PINNED]);
  const bad = child("avx3", false);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /ZS_KERNELS=avx3 is no kernel set \(avx2, avx512, avx512-bf16\)/);
  const missing = ["avx512", "avx512-bf16"].find((s) => !kernelSetsSupported().includes(s));
  if (missing) {
    const r2 = child(missing, false);
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, new RegExp(`ZS_KERNELS=${missing}: this CPU cannot run the ${missing} kernel set`));
  } else {
    const r2 = child("avx512", false);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(r2.stdout.trim(), KERNEL_SET_NAMES.avx512);
  }
});

test("a CPU without AVX2/FMA is refused by name before the addon loads (no SIGILL)", () => {
  const old = "model name\t: Intel(R) Core(TM)2 Duo\nflags\t\t: fpu sse sse2 ssse3 sse4_1\n";
  assert.throws(() => checkCpu(old), /Core\(TM\)2 Duo lacks avx2, fma, bmi2, f16c/);
  assert.doesNotThrow(() => checkCpu("model name\t: X\nflags\t\t: fpu sse2 avx avx2 fma bmi2 f16c\n"));
});
