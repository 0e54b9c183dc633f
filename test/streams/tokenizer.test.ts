// The `hf` tokenizer on the real Qwen2.5 vocabulary (vendored: test/fixtures/qwen2.5-tokenizer/SOURCES.md):
// the ids its published facts give, the stop tokens, round trips, and the 7B recipe's prompts of the
// vendored evaluation sets rendered with `qwen_r1` and measured against max_prompt_length.
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { resolveBenchmark } from "../../offline/eval/benchmarks.ts";
import { loadConfig } from "../../streams/config.ts";
import { HfTokenizer, loadTokenizer } from "../../loaders/tokenizer.ts";
import { renderPrompt } from "../../loaders/templates.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIR = join(root, "test", "fixtures", "qwen2.5-tokenizer");

describe("Qwen2.5 tokenizer (hf)", () => {
  const tok = loadTokenizer({ type: "hf", path: DIR });

  it("given the directory or its tokenizer.json, then the same tokenizer loads", () => {
    const byFile = HfTokenizer.load(join(DIR, "tokenizer.json"));
    assert.equal(tok.kind, "hf");
    assert.deepEqual(byFile.encode("Hello, world! 12345"), tok.encode("Hello, world! 12345"));
  });

  it("given the special tokens, then their published ids; <think> is three tokens in Qwen2.5", () => {
    assert.deepEqual(tok.encode("<|endoftext|>"), [151643]);
    assert.deepEqual(tok.encode("<|im_start|>"), [151644]);
    assert.deepEqual(tok.encode("<|im_end|>"), [151645]);
    assert.deepEqual(tok.encode("<think>"), [13708, 766, 29]);
    assert.equal(tok.vocabSize, 151665);       // 151,643 BPE tokens + 22 added tokens
    assert.equal(tok.eosId, 151645);           // the Instruct tokenizer_config.json: <|im_end|>
    assert.deepEqual(tok.stopIds, [151643, 151645]);
  });

  it("given text with digits, LaTeX and non-ASCII, then decode(encode(x)) is x", () => {
    for (const s of ["$\\frac{1}{2} + \\sqrt{3}$", "x² − 4 = 0, für alle x ∈ ℝ", "  12345678  \n\tend", "<think> a </think><answer>\\boxed{42}</answer>"]) {
      assert.equal(tok.decode(tok.encode(s)), s);
    }
    // Qwen2.5 splits numbers into single digits
    assert.equal(tok.encode("12345").length, 5);
  });

  it("given the recipe's qwen_r1 template, then its chat frame is the expected tokens", () => {
    const ids = tok.encode(renderPrompt("qwen_r1", "What is 1+1?"));
    assert.equal(ids.length, 118);
    assert.deepEqual(ids.slice(0, 3), [151644, 8948, 198]);                  // <|im_start|> system \n
    assert.deepEqual(ids.slice(-7), [16, 30, 151645, 198, 151644, 77091, 198]); // 1 ? <|im_end|> \n <|im_start|> assistant \n
    assert.ok(tok.decode(ids).endsWith("What is 1+1?<|im_end|>\n<|im_start|>assistant\n"));
    assert.ok(tok.decode(ids, { skipSpecial: true }).startsWith("system\nYou are a helpful assistant.\nuser\n"));
  });

  it("given the 7B recipe with this tokenizer, then every MATH-500 and AIME24 prompt fits max_prompt_length", async () => {
    const cfg = loadConfig(join(root, "configs", "r1-zero-qwen25-7b.yaml"), [`tokenizer.path=${DIR}`]);
    const cwd = process.cwd();
    process.chdir(root); // the recipe's paths are relative to the repository root
    try {
      for (const [name, rows] of [["math500", 500], ["aime24", 30]] as const) {
        const b = await resolveBenchmark(cfg, tok, name);
        assert.equal(b.total, rows);
        assert.equal(b.filteredTooLong, 0);
        const longest = Math.max(...b.rows.map((r) => r.tokens.length));
        assert.ok(longest > 100 && longest <= cfg.data.max_prompt_length, `${name}: longest prompt ${longest} tokens`);
      }
    } finally { process.chdir(cwd); }
  });
});
