// Test helper: a copy of a run under a new run id (its events republished, its weights objects copied),
// with an optional transform of each event (return null to drop it) — the way to build tampered runs.
import { weightsRefs } from "../../offline/replay/audit.ts";
import type { EventLog, Replayed } from "../../streams/eventlog.ts";
import type { ZsEvent } from "../../streams/events/index.ts";

export async function copyRun(log: EventLog, src: string, dst: string, transform: (e: ZsEvent, r: Replayed) => ZsEvent | null = (e) => e): Promise<void> {
  const events = await log.replayAll(src);
  for (const ref of weightsRefs(events)) await log.putBlob(dst, await log.getBlob(src, ref.digest));
  for (const r of events) {
    const e = transform(structuredClone({ ...r.event, runId: dst }) as ZsEvent, r);
    if (e) await log.publish(e);
  }
}
