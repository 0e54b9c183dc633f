// The repository is self-contained: every vendored data file is listed in its folder's SOURCES.md with
// the sha256 and row count of the copy described there, and no code, script or config reads ../shared.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
// folder -> the file in it that lists where each of its files came from
const VENDORED: [string, string][] = [
  ["data/eval", "SOURCES.md"], ["test/fixtures/reward", "SOURCES.md"], ["test/fixtures/qwen2.5-tokenizer", "SOURCES.md"],
  ["scripts/baselines", "README.md"],
];

/** The rows of the Markdown tables with `file` and `sha256` columns: file -> sha256 and rows (when a `rows` column is given). */
function listed(doc: string): Map<string, { sha256: string; rows?: number }> {
  const out = new Map<string, { sha256: string; rows?: number }>();
  let cols: string[] = [];
  for (const line of doc.split("\n")) {
    if (!line.startsWith("|")) { cols = []; continue; }
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (!cols.length) { cols = cells; continue; }
    const [file, sha, rows] = ["file", "sha256", "rows"].map((k) => cols.indexOf(k));
    if (file < 0 || sha < 0 || !/^[0-9a-f]{64}$/.test(cells[sha])) continue;
    out.set(cells[file], { sha256: cells[sha], rows: rows >= 0 ? Number(cells[rows].replace(/,/g, "")) : undefined });
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return ["node_modules", ".git", "build", ".zerostream", "reports", "runs"].includes(e.name) ? [] : walk(join(dir, e.name));
    return [join(dir, e.name)];
  });
}

describe("a self-contained repository", () => {
  for (const [dir, doc] of VENDORED) {
    it(`given ${dir}, then every file is listed in its ${doc} with its sha256 (and rows)`, () => {
      const table = listed(readFileSync(join(root, dir, doc), "utf8"));
      const files = readdirSync(join(root, dir)).filter((f) => f !== doc).sort();
      assert.ok(files.length >= 2);
      assert.deepEqual(files, [...table.keys()].sort(), `${dir}: files and ${doc} entries differ`);
      for (const f of files) {
        const bytes = readFileSync(join(root, dir, f));
        assert.equal(createHash("sha256").update(bytes).digest("hex"), table.get(f)!.sha256, `${dir}/${f}: sha256 differs from ${doc}`);
        const rows = table.get(f)!.rows;
        if (rows !== undefined) assert.equal(bytes.toString("utf8").split("\n").filter(Boolean).length, rows, `${dir}/${f}: rows`);
      }
    });
  }

  it("given the vendored evaluation sets, then every row has an id, a problem and a non-empty answer string", () => {
    for (const f of readdirSync(join(root, "data", "eval")).filter((x) => x.endsWith(".jsonl"))) {
      const rows = readFileSync(join(root, "data", "eval", f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const ids = new Set(rows.map((r) => r.id));
      assert.equal(ids.size, rows.length, `${f}: duplicate ids`);
      for (const r of rows) assert.ok(typeof r.problem === "string" && r.problem && typeof r.answer === "string" && r.answer, `${f} ${String(r.id)}`);
    }
  });

  it("given every source, script and config file, then none reads ../shared", () => {
    const offenders: string[] = [];
    for (const f of walk(root)) {
      if (!/\.(ts|mts|mjs|js|cjs|py|sh|ya?ml|json)$/.test(f) || f === fileURLToPath(import.meta.url)) continue;
      if (f.includes(`${join("test", "fixtures")}`)) continue;  // data, not code
      readFileSync(f, "utf8").split("\n").forEach((line, i) => {
        if (/\.\.\/shared\b|["']shared["']\s*,/.test(line)) offenders.push(`${relative(root, f)}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});
