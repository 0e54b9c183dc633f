// The AVX2-only guarantee, checked in the built addon: AVX-512 instructions (EVEX-encoded: first byte 0x62 in
// 64-bit mode) appear only in the functions of core/matmul_avx512.cc (zs::mm::), which run only where
// kernelset.cc found AVX-512 (native/README.md, "Kernel sets"). A header's inline function instantiated under
// that file's target pragma, or a -march flag, would put one elsewhere, and an AVX2 laptop would die with
// SIGILL in code it cannot avoid; this test fails first, on any machine that builds the addon.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { addonPath } from "../../native/index.ts";

/** Demangled names of the functions holding at least one EVEX-encoded instruction. */
function evexFunctions(): { functions: string[]; instructions: number } {
  // --insn-width=16: one line per instruction (no continuation lines of bytes to mistake for instructions)
  const r = spawnSync("objdump", ["-d", "-C", "--insn-width=16", addonPath], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) throw new Error(`objdump (binutils, installed with g++) could not disassemble ${addonPath}: ${r.error?.message ?? r.stderr}`);
  return scan(r.stdout);
}

function scan(text: string): { functions: string[]; instructions: number } {
  const fns = new Set<string>();
  let fn = "", instructions = 0;
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head) { fn = head[1]; continue; }
    // an instruction line: "  addr:\t62 f1 7c 48 ...\tvmovups ..." (raw bytes after the first tab)
    const bytes = /^\s*[0-9a-f]+:\t((?:[0-9a-f]{2} )+)\s*\t\S/.exec(line)?.[1];
    if (!bytes) continue;
    instructions++;
    if (/^(?:67 )?62 /.test(bytes)) fns.add(fn);
  }
  return { functions: [...fns].sort(), instructions };
}

test("AVX-512 instructions only inside the dispatched kernels (zs::mm::), nowhere an AVX2 machine runs", () => {
  const { functions, instructions } = evexFunctions();
  assert.ok(instructions > 10_000, `objdump listed ${instructions} instructions: is ${addonPath} the engine?`);
  assert.ok(functions.some((f) => f.startsWith("zs::mm::block_bf16")) && functions.some((f) => f.includes("kernel_dp")),
    `the AVX-512 kernels themselves were not found (${functions.length} functions): the scan is blind`);
  const outside = functions.filter((f) => !f.startsWith("zs::mm::") && !/^void zs::mm::/.test(f) && !/^double zs::mm::/.test(f));
  assert.deepEqual(outside, [], `AVX-512 instructions outside core/matmul_avx512.cc: ${outside.join("; ")}`);
  console.log(`  ${functions.length} functions hold AVX-512 instructions, all in zs::mm:: (${instructions.toLocaleString()} instructions scanned)`);
});
