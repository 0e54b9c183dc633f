// Event contracts: every v1 schema accepts a valid event and refuses a broken one; the upcaster
// mechanism reads a v1 event as v2.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { PoisonMessageError, UnknownEventError } from "../../streams/errors.ts";
import { EventRegistry, events, GroupScoredV1, parseEvent } from "../../streams/events/index.ts";
import { msgIdOf, subjectOf } from "../../streams/subjects.ts";
import { groupSampled, groupScored, groupScoredV1, runStarted } from "../helpers/events.ts";

describe("event contracts v1", () => {
  it("accepts valid events and routes them to their subjects with content-derived msgIDs", () => {
    const g = groupSampled("r1", 3, 7);
    assert.deepEqual(parseEvent(g), g);
    assert.equal(subjectOf(g), "zs.r1.rollout");
    assert.equal(msgIdOf(g), "r1:sampled:3:s3.g7");
    const s = groupScored("r1", 3, 7);
    assert.equal(msgIdOf(s), "r1:scored:3:s3.g7:base_acc@1");
    assert.equal(subjectOf(runStarted("r1")), "zs.r1.run");
  });

  it("refuses a GroupSampled whose logprobs do not match its tokens, naming the field", () => {
    const g = groupSampled("r1", 0, 0);
    g.samples[1].logprobs = [-1];
    assert.throws(() => parseEvent(g), (e: Error) => e instanceof PoisonMessageError && /samples\.1\.logprobs/.test(e.message));
  });

  it("refuses unknown fields, unknown types and unknown versions", () => {
    assert.throws(() => parseEvent({ ...runStarted("r1"), extra: 1 }), PoisonMessageError);
    assert.throws(() => parseEvent({ type: "Nope", v: 1 }), UnknownEventError);
    assert.throws(() => parseEvent({ ...runStarted("r1"), v: 9 }), UnknownEventError);
    assert.throws(() => parseEvent([1, 2]), PoisonMessageError);
    assert.throws(() => parseEvent(groupScored("r1", 0, 0), ["GroupSampled"]), /expected GroupSampled, got GroupScored/);
  });

  it("reads a v1 event as v2 through a registered upcaster", () => {
    // v2 of GroupScored splits the scorer "name@version" into two fields
    const GroupScoredV2 = GroupScoredV1.omit({ v: true, scorer: true }).extend({
      v: z.literal(2), scorerName: z.string(), scorerVersion: z.number().int(),
    });
    const reg = new EventRegistry()
      .register("GroupScored", 1, GroupScoredV1)
      .register("GroupScored", 2, GroupScoredV2)
      .upcaster("GroupScored", 1, (e) => {
        const { scorer, ...rest } = e as { scorer: string };
        const [name, version] = scorer.split("@");
        return { ...rest, v: 2, scorerName: name, scorerVersion: Number(version) };
      });
    const v1 = groupScoredV1("r1", 2, 1);
    const up = reg.parse(v1) as unknown as { v: number; scorerName: string; scorerVersion: number; groupId: string };
    assert.equal(up.v, 2);
    assert.equal(up.scorerName, "base_acc");
    assert.equal(up.scorerVersion, 1);
    assert.equal(up.groupId, "s2.g1");
    // a v2 event parses as itself; a v1 event without an upcaster path is refused
    assert.equal((reg.parse({ ...up }) as unknown as { v: number }).v, 2);
    const noUp = new EventRegistry().register("GroupScored", 1, GroupScoredV1).register("GroupScored", 2, GroupScoredV2);
    assert.throws(() => noUp.parse(v1), /no upcaster from GroupScored v1 to v2/);
    assert.equal(events.latest("GroupScored"), 2);
  });

  it("reads a recorded GroupScored v1 as v2 with its scores unchanged and no formatRule (issue 20)", () => {
    const v1 = groupScoredV1("r1", 3, 0, [1, 0]);
    const up = parseEvent(v1, ["GroupScored"]);
    assert.equal(up.v, 2);
    assert.deepEqual(up.scores, v1.scores);
    assert.ok(up.scores.every((s) => s.formatRule === undefined));
    // a v2 score names the rule; an unknown rule name is poison
    const v2 = { ...groupScored("r1", 3, 0, [0]), scores: [{ ...v1.scores[1], formatRule: "box_count" }] };
    assert.equal(parseEvent(v2).type, "GroupScored");
    assert.throws(() => parseEvent({ ...v2, scores: [{ ...v1.scores[1], formatRule: "nope" }] }), PoisonMessageError);
    assert.throws(() => parseEvent({ ...v1, scores: [{ ...v1.scores[1], formatRule: "box_count" }] }), PoisonMessageError, "v1 has no formatRule");
  });
});
