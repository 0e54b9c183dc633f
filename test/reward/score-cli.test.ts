// End to end: spawn `node cli/bin.mjs score` and feed it JSON lines on stdin.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function cli(args: string[], lines: string[]): { rc: number | null; out: Record<string, unknown>[]; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "cli", "bin.mjs"), "score", ...args], {
    input: lines.join("\n") + "\n", encoding: "utf8", cwd: root, timeout: 60_000,
  });
  return { rc: r.status, out: r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)), stderr: r.stderr };
}

describe("zerostream score", () => {
  it("given predictions and responses on stdin, then one verdict line per input, in order", () => {
    const { rc, out, stderr } = cli(["--reward", "base_acc"], [
      JSON.stringify({ gold: "\\frac{1}{2}", prediction: "0.5" }),
      JSON.stringify({ gold: "3", response: "<think> 1+2 </think><answer> \\boxed{3} </answer>" }),
      JSON.stringify({ gold: "3", response: "<think> 1+2 </think><answer> \\boxed{4} </answer>" }),
      JSON.stringify({ gold: 7, prediction: "\\frac{1}{}" }),
      JSON.stringify({ gold: "3", response: "I think \\boxed{3}" }),
    ]);
    assert.equal(rc, 0, stderr);
    assert.match(String(out[3]?.message), /cannot parse/);
    assert.deepEqual(out, [
      { correct: true, outcome: "correct", format: 1, reward: 1, extracted: "0.5" },
      { correct: true, outcome: "correct", format: 1, reward: 1, extracted: "3" },
      { correct: false, outcome: "wrong", format: 1, reward: 0, extracted: "4" },
      { correct: false, outcome: "unparseable", format: 1, reward: 0, extracted: "\\frac{1}{}", message: out[3].message },
      { correct: true, outcome: "correct", format: 0, reward: 0, extracted: "3" },
    ]);
  });
  it("given a malformed line, then an error line names its number and scoring continues (exit 1)", () => {
    const { rc, out } = cli([], ["{\"gold\": 1, \"prediction\": 1}", "not json", "{\"gold\": 1}", "", "{\"gold\": 2, \"prediction\": \"2\"}"]);
    assert.equal(rc, 1);
    assert.equal(out.length, 4);
    assert.equal(out[0].correct, true);
    assert.equal(out[1].line, 2);
    assert.match(String(out[1].error), /invalid JSON/);
    assert.equal(out[2].line, 3);
    assert.match(String(out[2].error), /prediction.*response/);
    assert.equal(out[3].correct, true);
  });
  it("given --reward acc and --timeout-ms, then they are honoured; an unknown reward fails loudly", () => {
    const ok = cli(["--reward", "acc", "--timeout-ms", "5000"], [JSON.stringify({ gold: "3", response: "\\boxed{3}" })]);
    assert.equal(ok.rc, 0, ok.stderr);
    assert.equal(ok.out[0].reward, 1);
    const bad = cli(["--reward", "nope"], []);
    assert.equal(bad.rc, 1);
    assert.match(bad.stderr, /unknown reward function 'nope'/);
  });
});
