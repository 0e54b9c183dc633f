// Smoke runs of issue 17's benchmarks (the full runs are not part of npm test: minutes, and a 0.5B
// model): `bench scale` with 2 simulated generators and 2 steps, `bench transport` on the tiny shape. They
// keep the benchmarks running (a bench that no longer starts is found here, not in the next session) and
// check the figures they report are the real ones: groups of the recipe's size arrive, a step is split
// into parts that add up, a delta is smaller than the copy and rebuilds it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.ts";
import { KERNEL_SET_NAMES, kernelSetsSupported } from "../../native/index.ts";

const root = new URL("../..", import.meta.url).pathname;
const jsonLine = (out: string) => JSON.parse(out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!) as Record<string, unknown>;

describe("benchmark smoke runs (issue 17)", () => {
  it("bench scale: 2 simulated generators on a real nats-server, the decider as updater shell, a real reward consumer", { timeout: 300_000 }, async () => {
    const r = await cli(["bench", "scale", "--n", "2", "--steps", "2", "--reward", "1", "--procs", "1", "--time-scale", "2000", "--json"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const out = jsonLine(r.stdout) as { rows: Record<string, number>[]; generatorCostPerGroup: { bytes: number; publishMs: number } };
    const [row] = out.rows;
    assert.equal(row.n, 2);
    assert.equal(row.groupsPerStep, 32);
    assert.ok(row.groupKb > 50 && row.groupKb < 1024, `a group of 8 long responses: ${row.groupKb} KB`);
    assert.ok(row.eventsPerS > 0 && row.mbPerS > 0, "the log grew during the measured step");
    assert.ok(row.samplingS > 0 && row.trainS > 0 && row.stepS >= row.samplingS, `the step ${row.stepS} s holds its sampling ${row.samplingS} s`);
    assert.ok(row.serverCpuMsPerGroup > 0 && row.rewardCpuMsPerGroup > 0, "CPU per group measured from /proc");
    assert.ok(out.generatorCostPerGroup.bytes > 50_000 && out.generatorCostPerGroup.publishMs > 0);
  });

  it("bench native: the CPU, kernel sets and per-instruction peaks named, forward at compute f32 and bf16 under every set this CPU runs (issue 15)", { timeout: 300_000 }, async () => {
    const sets = kernelSetsSupported();
    const r = await cli(["bench", "native", "--size", "small", "--only", "fwd,topp", "--no-torch", "--compute", "f32,bf16", "--kernels", sets.join(","), "--json"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    type Run = { name: string; tok_s_median: number; gflop_s: number; mfu: number };
    type Sizes = { small: { native: Run[]; native_bf16: Run[] } };
    const out = JSON.parse(r.stdout) as { cpu: { model: string; isa: string[] }; kernel_set: string; kernel_sets: string[]; peaks: Record<string, number>;
      peak_gflop_s: number; peak_bf16_gflop_s: number; sizes: Sizes; by_kernel_set?: Record<string, Sizes>; topp: { sd: number; ms_median: number }[] };
    assert.deepEqual(out.topp.map((x) => x.sd), [1, 2, 3, 4]);
    assert.ok(out.topp.every((x) => x.ms_median > 0), JSON.stringify(out.topp));
    assert.match(r.stderr, /top-p 0\.95 alone, one row of V = 151,936/);
    assert.ok(out.cpu.model.length > 0 && out.cpu.isa.includes("avx2"), JSON.stringify(out.cpu));
    assert.deepEqual(out.kernel_sets, sets.map((s) => KERNEL_SET_NAMES[s]));
    assert.equal(out.kernel_set, KERNEL_SET_NAMES.avx2);
    assert.ok(out.peaks.fma256 > 0 && (out.peaks.fma512 > 0) === out.cpu.isa.includes("avx512f") && (out.peaks.dpbf16 > 0) === out.cpu.isa.includes("avx512_bf16"), JSON.stringify(out.peaks));
    assert.equal(out.peak_gflop_s, Math.max(out.peaks.fma256, out.peaks.fma512), "fp32 MFU against the best fp32 instruction");
    assert.equal(out.peak_bf16_gflop_s, Math.max(out.peak_gflop_s, out.peaks.dpbf16), "bf16 MFU against the best instruction for bf16");
    assert.match(r.stderr, /^CPU: .+; kernel set x86-64-v3\/avx2-fma(, then x86-64-v4\/avx512-[a-z0-9]+)*; 2 threads$/m);
    assert.match(r.stderr, /^peaks \(GFLOP\/s, 2 threads, best of 5 probes\): 256-bit FMA \d+, 512-bit FMA (\d+|n\/a), AVX512-BF16 dot (\d+|n\/a)/m);
    assert.match(r.stderr, /compute bf16 \/ f32 \(small, avx2\): forward \d+\.\d\dx/);
    if (sets.includes("avx512-bf16")) assert.match(r.stderr, /\[kernel set x86-64-v4\/avx512-bf16, compute bf16 on vdpbf16ps\]/);
    for (const s of sets) {
      const sizes = sets.length > 1 ? out.by_kernel_set![KERNEL_SET_NAMES[s]] : out.sizes;
      for (const [runs, peak] of [[sizes.small.native, out.peak_gflop_s], [sizes.small.native_bf16, out.peak_bf16_gflop_s]] as const) {
        assert.equal(runs.length, 1);
        assert.ok(runs[0].name.startsWith("forward") && runs[0].tok_s_median > 0 && runs[0].gflop_s > 0);
        assert.ok(Math.abs(runs[0].mfu - runs[0].gflop_s / peak) < 1e-9, `${s}: MFU against the dtype's best peak`);
      }
    }
    const bad = await cli(["bench", "native", "--size", "small", "--only", "fwd", "--no-torch", "--kernels", "avx3"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown --kernels 'avx3' \(avx2, avx512, avx512-bf16\)/);
  });

  it("bench native --only gemm: every linear shape's forward, dX and dW, --gemm-reps calls each (best printed); a bad count refused", { timeout: 300_000 }, async () => {
    const r = await cli(["bench", "native", "--size", "small", "--only", "gemm", "--no-torch", "--gemm-reps", "3", "--json"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const runs = (JSON.parse(r.stdout) as { sizes: { small: { native: { name: string; reps: number; gflop_s: number }[] } } }).sizes.small.native;
    assert.deepEqual(runs.map((x) => x.name.split(" ").slice(1, 3).join(" ")), ["qkv", "o", "gate/up", "down", "head"].flatMap((s) => ["fwd", "dX", "dW"].map((p) => `${s} ${p}`)));
    assert.ok(runs.every((x) => x.reps === 3 && x.gflop_s > 0), JSON.stringify(runs));
    assert.match(r.stderr, /dW +\d+\.\d \( *\d+%, best \d+\.\d\)/);
    const bad = await cli(["bench", "native", "--size", "small", "--only", "gemm", "--no-torch", "--gemm-reps", "0"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--gemm-reps takes a positive integer/);
  });

  it("bench transport: density of real GRPO steps and every transport on the tiny shape", { timeout: 300_000 }, async () => {
    const r = await cli(["bench", "transport", "--shape", "tiny", "--steps", "2", "--reps", "1", "--json"], { cwd: root, env: { ZS_LOG_LEVEL: "error" } }).done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    type Shape = { fullBytes: number; starts: { start: string; steps: { density: number; patchBytes: number }[] }[]; transport: { mode: string; bytesMoved: number; inHandMs: number }[] };
    const [shape] = (jsonLine(r.stdout) as { shapes: Shape[] }).shapes;
    assert.deepEqual(shape.starts.map((s) => s.start), ["f32", "bf16"]);
    for (const s of shape.starts) {
      for (const st of s.steps) {
        assert.ok(st.density > 0 && st.density < 0.5, `an lr-1e-6 step changes some bf16 values, not most: ${st.density}`);
        assert.ok(st.patchBytes < shape.fullBytes / 4);
      }
    }
    const modes = shape.transport.map((t) => t.mode);
    for (const m of ["object", "chunked c1", "chunked c4", "delta (f32 start)", "delta (bf16 start)"]) assert.ok(modes.includes(m), `${m} in ${modes.join(", ")}`);
    const object = shape.transport.find((t) => t.mode === "object")!, delta = shape.transport.find((t) => t.mode === "delta (f32 start)")!;
    assert.equal(object.bytesMoved, shape.fullBytes);
    assert.ok(delta.bytesMoved < object.bytesMoved / 4);
  });

  it("bench aha: configs/tiny-aha.yaml end to end, small (a 20-step base model, 2 GRPO steps), its table, curves and report", { timeout: 300_000 }, async () => {
    const cache = mkdtempSync(join(tmpdir(), "zs-aha-smoke-"));
    try {
      const r = await cli(["bench", "aha", "--seeds", "1", "--steps", "2", "--set", "model.pretrain.steps=20", "--set", "model.pretrain.warmup=2",
        "--set", "actor.global_batch_size=4", "--keep", join(cache, "keep"), "--json"], { cwd: root, env: { ZS_LOG_LEVEL: "error", ZS_CACHE_DIR: cache } }).done;
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      assert.match(r.stdout, /\| seed \| greedy accuracy base → final \|/);
      const [res] = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { seed: number; curves: { steps: number }; base: { n: number; checkRate: number }; report: string; weightsDigest: string }[];
      assert.equal(res.seed, 1);
      assert.equal(res.curves.steps, 2);
      assert.equal(res.base.n, 256 * 4, "every held-out problem sampled 4 times");
      assert.match(res.weightsDigest, /^sha256:[0-9a-f]{64}$/);
      assert.match(readFileSync(res.report, "utf8"), /id="selfcheck"/, "the report has the self-verification section");
      rmSync(res.report, { force: true });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
