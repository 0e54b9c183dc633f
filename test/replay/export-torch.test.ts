// The independent loader of issue 14 item 3: folders in the published layout as this project writes them
// (native/checkpoint.ts writeCheckpoint, what export-model writes; f32 sharded with an untied head, bf16
// with a tied one) are read by the PyTorch Qwen2 of the benchmark baseline, through its own safetensors
// parser, to the logits this engine computes from them: within 1e-5 relative. Against the recorded fixture
// on every machine (the folders are rebuilt byte for byte: their digests are recorded), and live where
// /usr/bin/python3 has torch.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Policy } from "../../native/index.ts";
import { BASELINE, CASES, FIXTURE, IDS, PYTHON, buildFolder, torchLogits } from "../../scripts/make-export-fixture.ts";

type Fixture = { torch: string; ids: number[][]; cases: ((typeof CASES)[number] & { files: Record<string, string>; logits: number[][] })[] };
const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as Fixture;
const hasTorch = spawnSync(PYTHON, ["-c", "import torch, numpy"], { stdio: "ignore" }).status === 0;

/** Our logits of IDS from the folder, loaded by this project's loader. */
async function ours(dir: string): Promise<Float32Array[]> {
  const p = await Policy.load(dir);
  try { return await Promise.all(IDS.map((ids) => p.forward({ tokens: Int32Array.from(ids), seqLens: Int32Array.of(ids.length) }))); } finally { p.dispose(); }
}
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

describe("export folders read by an independent loader (PyTorch, its own safetensors parser)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "zs-export-torch-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.name}: the recorded torch logits (torch ${fixture.torch}) match ours within 1e-5`, async () => {
      const rec = fixture.cases.find((x) => x.name === c.name)!;
      assert.deepEqual(fixture.ids, IDS);
      const dir = join(tmp, `fixture-${c.name}`);
      assert.deepEqual(buildFolder(dir, c), rec.files, "the folder torch read, byte for byte");
      if (c.maxShardBytes) assert.ok(Object.keys(rec.files).includes("model.safetensors.index.json") && Object.keys(rec.files).length > 4, "sharded");
      const mine = await ours(dir);
      for (let i = 0; i < IDS.length; i++) {
        const e = relErr(mine[i], rec.logits[i]);
        assert.ok(e < 1e-5, `sequence ${i}: relative error ${e}`);
      }
      // and the comparison can fail: another model's logits are far from these
      const other = relErr(mine[0], rec.logits[0].map((x, j) => x + (j % 7 === 0 ? 1e-2 : 0)));
      assert.ok(other > 1e-5, `a perturbed reference is caught (${other})`);
    });
  }

  it("live: the baseline reads freshly written folders to our logits within 1e-5", { skip: hasTorch ? false : `${PYTHON} has no torch (apt-get install python3-torch); the recorded fixture is checked instead` }, async () => {
    for (const c of CASES) {
      const dir = join(tmp, `live-${c.name}`);
      buildFolder(dir, c);
      const theirs = torchLogits(dir), mine = await ours(dir);
      for (let i = 0; i < IDS.length; i++) {
        const e = relErr(mine[i], theirs[i]);
        console.log(`  ${c.name} sequence ${i}: relative error ${e.toExponential(2)} (${BASELINE.split("/").pop()} --load)`);
        assert.ok(e < 1e-5, `${c.name} sequence ${i}: relative error ${e}`);
      }
    }
  });

  it("the baseline's loader refuses a folder with a tensor missing, naming it", { skip: hasTorch ? false : `${PYTHON} has no torch` }, () => {
    const dir = join(tmp, "broken");
    buildFolder(dir, CASES[1]);
    const cfgFile = join(dir, "config.json");
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8"));
    // an untied config over a tied folder: lm_head.weight is missing
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, tie_word_embeddings: false }));
    const r = spawnSync(PYTHON, [BASELINE, "--load", dir, "--ids", "[[1]]"], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /missing tensors \['lm_head\.weight'\]/);
  });
});
