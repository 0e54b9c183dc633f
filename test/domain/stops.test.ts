// rollout.stop: a response ends with the token that completes the first stop string, as if sampling
// had stopped there; the cut is applied to real samples of a tiny policy and in evaluations.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { evaluatePolicy } from "../../offline/eval/evaluate.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { Policy } from "../../native/index.ts";
import { applyStops, responseText, stopCut } from "../../domain/stops.ts";
import { CharTokenizer } from "../../loaders/tokenizer.ts";

const tok = new CharTokenizer();
const ARCH = { vocab_size: 104, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64,
  rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 128 };

describe("stop strings", () => {
  let policy: Policy;
  let pool: ScorerPool;
  before(() => { policy = Policy.init(ARCH, 5); pool = new ScorerPool({ size: 1 }); });
  after(async () => { policy.dispose(); await pool.close(); });

  it("keeps the shortest prefix whose text holds a stop string (single- and multi-token strings)", () => {
    const ids = tok.encode("<think>1+2</think><answer>\\boxed{3}</answer> then more");
    assert.equal(tok.decode(ids.slice(0, stopCut(ids, tok, ["</answer>"])!)), "<think>1+2</think><answer>\\boxed{3}</answer>");
    assert.equal(tok.decode(ids.slice(0, stopCut(ids, tok, ["then", "xyz"])!)), "<think>1+2</think><answer>\\boxed{3}</answer> then");
    assert.equal(tok.decode(ids.slice(0, stopCut(ids, tok, ["1+", "then"])!)), "<think>1+");
    assert.equal(stopCut(ids, tok, ["nowhere"]), null);
    assert.equal(stopCut(ids, tok, []), null);
  });

  it("cuts real samples of a policy: a prefix of what was sampled, ending with the stop string, finish 'stop'", async () => {
    const prompt = Int32Array.from(tok.encode("Q: 12+34\n"));
    const [r] = await policy.sample({ prompts: [prompt], seeds: [9], temperature: 1, topP: 1, topK: 0, maxNewTokens: 24, stopTokenIds: [] });
    assert.equal(r.tokens.length, 24);
    const stop = tok.decode(r.tokens.slice(6, 8));
    const cut = applyStops(r, tok, [stop]);
    assert.equal(cut.finish, "stop");
    assert.ok(cut.tokens.length <= 8 && cut.tokens.length >= 1);
    assert.deepEqual(Array.from(cut.tokens), Array.from(r.tokens.slice(0, cut.tokens.length)));
    assert.deepEqual(Array.from(cut.logprobs), Array.from(r.logprobs.slice(0, cut.tokens.length)));
    const text = tok.decode(cut.tokens);
    assert.ok(text.endsWith(stop.slice(-1)) && text.includes(stop) && !tok.decode(cut.tokens.slice(0, -1)).includes(stop), text);
    assert.equal(applyStops(r, tok, ["\u0000never"]), r);
  });

  it("applies in evaluations as in training", async () => {
    const rows = [{ id: "a", index: 0, question: "12+34", answer: "46", text: "Q: 12+34\n", tokens: tok.encode("Q: 12+34\n") }];
    const o = { policy, rows, tokenizer: tok, spec: resolveReward("acc"), temperature: 1, k: 1, maxNewTokens: 24, seed: 3, pool };
    const plain = await evaluatePolicy(o);
    const stop = plain.samples[0].text.slice(4, 6);
    const cut = await evaluatePolicy({ ...o, stop: [stop] });
    assert.ok(cut.samples[0].text.length < plain.samples[0].text.length);
    assert.ok(plain.samples[0].text.startsWith(cut.samples[0].text) && cut.samples[0].text.includes(stop));
    assert.ok(cut.metrics.mean_length < plain.metrics.mean_length);
  });
});

describe("responseText", () => {
  const ids = (t: string) => Array.from(tok.encode(t));
  const stop = new Set(tok.stopIds);
  const eos = tok.stopIds[0];
  it("drops the final stop token of a response that stopped, and only that", () => {
    assert.equal(responseText({ tokens: [...ids("12"), eos], finish: "stop" }, tok, stop), "12");
    assert.equal(responseText({ tokens: [...ids("12"), eos], finish: "length" }, tok, stop), tok.decode([...ids("12"), eos]), "a truncated response keeps every token");
    assert.equal(responseText({ tokens: ids("12"), finish: "stop" }, tok, stop), "12", "cut by a stop string: no stop token to drop");
    assert.equal(responseText({ tokens: [], finish: "stop" }, tok, stop), "");
  });
});
