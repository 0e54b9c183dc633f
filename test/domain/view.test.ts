// The one fold of a run's log (domain/run/view.ts), on a recorded log (test/fixtures/runs): folding any
// prefix and then the rest equals folding the whole, with duplicates, evaluations and dead letters
// inserted anywhere; the dedupe rule (first wins) and the scorer keying; the base is never mutated.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { emptyView, evolveView, foldRun, sampledGroups, scoredPair, type At, type Retain } from "../../domain/run/view.ts";
import { parseEvent, type DeadLettered, type Evaluated, type ZsEvent } from "../../streams/events/index.ts";

const recorded: At<ZsEvent>[] = readFileSync(join(import.meta.dirname, "..", "fixtures", "runs", "tiny-3-steps.jsonl"), "utf8")
  .trim().split("\n").map((l) => { const r = JSON.parse(l) as { seq: number; event: unknown }; return { seq: r.seq, event: parseEvent(r.event) }; });
const runId = recorded[0].event.runId;
const STRICT = "base_acc@1{format_mode=strict}";

function evaluated(version: number, digest: string): Evaluated {
  return {
    type: "Evaluated", v: 2, runId, policyVersion: version, weightsDigest: digest, benchmark: "heldout", metric: "pass@1", k: 1,
    value: 0.5, n: 4, scorer: "base_acc@1", temperature: 0, seed: 0,
  } as Evaluated;
}
function deadLetter(step: number): DeadLettered {
  return {
    type: "DeadLettered", v: 1, runId, stream: "ZS_LOG", subject: `zs.${runId}.rollout`, seq: 1, consumer: "reward", deliveries: 8,
    reason: "max_deliveries", error: "boom", payload: Buffer.from(JSON.stringify({ step })).toString("base64"),
  };
}

/** The recorded log with extra events inserted: re-published copies of its own events, evaluations, dead letters. */
const logs = fc.array(fc.tuple(fc.nat(recorded.length), fc.oneof(
  fc.nat(recorded.length - 1).map((i) => recorded[i].event),
  fc.nat(3).map((v) => evaluated(v, `sha256:${String(v).repeat(64)}`)),
  fc.nat(4).map((s) => deadLetter(s)),
)), { maxLength: 12 }).map((extra) => {
  const events: ZsEvent[] = recorded.map((r) => r.event);
  for (const [at, e] of [...extra].sort((a, b) => b[0] - a[0])) events.splice(at, 0, e);
  return events.map((event, i) => ({ seq: i + 1, event }));
});

describe("RunView: one fold of a run's log", () => {
  for (const retain of ["all", "pending"] as Retain[]) {
    it(`folding a prefix and then the rest equals folding the whole (retain ${retain})`, () => {
      fc.assert(fc.property(logs, fc.array(fc.nat(), { maxLength: 4 }), (log, cuts) => {
        const whole = foldRun(log, emptyView(retain));
        const at = [...new Set(cuts.map((c) => c % (log.length + 1)))].sort((a, b) => a - b);
        let v = emptyView(retain), from = 0;
        for (const c of [...at, log.length]) { v = foldRun(log.slice(from, c), v); from = c; }
        assert.deepEqual(v, whole);
        assert.deepEqual(log.reduce(evolveView, emptyView(retain)), whole, "event by event");
      }), { numRuns: 60, seed: 42 });
    });
  }

  it("reads the recorded run: steps, versions, both scorers, the run's own scorer", () => {
    const v = foldRun(recorded);
    assert.equal(v.step, 3);
    assert.equal(v.version, 3);
    assert.equal(v.updates.length, 3);
    assert.equal(v.groups.size, 12);
    assert.deepEqual(Object.fromEntries(v.scoredBy), { "base_acc@1": 12, [STRICT]: 12 });
    assert.equal(v.scorer, "base_acc@1");
    assert.equal(v.finished?.event.finalWeightsDigest, v.weightsDigest);
    assert.deepEqual([...v.versions.keys()], [0, 1, 2, 3]);
    assert.equal(v.duplicates.length, 0);
    assert.ok(scoredPair(v, "s1.g2", STRICT), "a group has the strict scorer's score beside the run's");
    assert.deepEqual(sampledGroups(v).map((g) => g.seq), recorded.filter((r) => r.event.type === "GroupSampled").map((r) => r.seq), "in log order");
  });

  it("first wins: a re-published group or score never replaces the first, and is reported", () => {
    const sampled = recorded.find((r) => r.event.type === "GroupSampled")!;
    const g = sampled.event as Extract<ZsEvent, { type: "GroupSampled" }>;
    const forged = { ...g, samples: g.samples.map((s) => ({ ...s, text: "forged" })) };
    const scored = recorded.find((r) => r.event.type === "GroupScored")!;
    const v = foldRun([...recorded, { seq: 100, event: forged }, { seq: 101, event: scored.event }]);
    assert.equal(v.groups.get(g.groupId)!.sampled!.seq, sampled.seq);
    assert.notEqual(v.groups.get(g.groupId)!.sampled!.event.samples[0].text, "forged");
    assert.deepEqual(v.duplicates.map((d) => [d.type, d.seq, d.firstSeq]), [["GroupSampled", 100, sampled.seq], ["GroupScored", 101, scored.seq]]);
  });

  it("pending drops the groups of applied steps and ignores late events for them", () => {
    const v = foldRun(recorded, emptyView("pending"));
    assert.equal(v.groups.size, 0);
    const late = recorded.find((r) => r.event.type === "GroupSampled")!;
    assert.equal(foldRun([{ seq: 200, event: late.event }], v).groups.size, 0);
    const mid = foldRun(recorded.filter((r) => r.event.type !== "PolicyUpdated" || r.event.step === 0), emptyView("pending"));
    assert.deepEqual([...new Set([...mid.groups.values()].map((g) => g.sampled!.event.step))], [1, 2]);
  });

  it("never mutates the view it folds onto", () => {
    const base = foldRun(recorded.slice(0, 10));
    const copy = structuredClone(base);
    foldRun(recorded.slice(10), base);
    evolveView(base, recorded[10]);
    assert.deepEqual(base, copy);
  });

  it("names the step of a dead-lettered payload (or -1)", () => {
    const v = foldRun([{ seq: 1, event: deadLetter(4) }, { seq: 2, event: { ...deadLetter(0), payload: "bm90IGpzb24=" } }]);
    assert.deepEqual(v.deadLetters.map((d) => d.step), [4, -1]);
  });
});
