// Subjects, stream and bucket names, and deterministic message ids. The single place that spells them.
import type { ZsEvent } from "./events/index.ts";

export const LOG_STREAM = "ZS_LOG";          // every run's event log, limits retention
export const TASK_STREAM = "ZS_TASKS";       // rollout tasks, work-queue retention
export const RUNS_BUCKET = "zs-runs";        // KV: run id → run record
export const weightsBucket = (runId: string) => `zs-weights-${runId}`;

export const subjects = {
  run: (runId: string) => `zs.${runId}.run`,
  rollout: (runId: string) => `zs.${runId}.rollout`,
  reward: (runId: string) => `zs.${runId}.reward`,
  policy: (runId: string) => `zs.${runId}.policy`,
  eval: (runId: string) => `zs.${runId}.eval`,
  dlq: (runId: string) => `zs.${runId}.dlq`,
  all: (runId: string) => `zs.${runId}.>`,
  tasks: (runId: string) => `zst.${runId}`,
};

/** The run a subject belongs to, or "_" when it names none. */
export function runOfSubject(subject: string): string {
  const m = /^zst?\.([a-z0-9][a-z0-9-]*)(\.|$)/.exec(subject);
  return m ? m[1] : "_";
}

/** Subject of an event in the log (RolloutRequested goes to the task stream). */
export function subjectOf(e: ZsEvent): string {
  switch (e.type) {
    case "RunStarted": case "RunFinished": return subjects.run(e.runId);
    case "RolloutRequested": return subjects.tasks(e.runId);
    case "GroupSampled": return subjects.rollout(e.runId);
    case "GroupScored": return subjects.reward(e.runId);
    case "PolicyUpdated": return subjects.policy(e.runId);
    case "Evaluated": return subjects.eval(e.runId);
    case "DeadLettered": return subjects.dlq(e.runId === "_" ? "unknown" : e.runId);
  }
}

/** msgID from what the event is (<run>:<kind>:<step>:<groupId>[:<scorer>]), never from when it was sent. */
export function msgIdOf(e: ZsEvent): string {
  switch (e.type) {
    case "RunStarted": return `${e.runId}:run-started`;
    case "RunFinished": return `${e.runId}:run-finished`;
    case "RolloutRequested": return `${e.runId}:task:${e.step}:${e.taskId}`;
    case "GroupSampled": return `${e.runId}:sampled:${e.step}:${e.groupId}`;
    case "GroupScored": return `${e.runId}:scored:${e.step}:${e.groupId}:${e.scorer}`;
    case "PolicyUpdated": return `${e.runId}:policy:${e.step}`;
    // a sampled evaluation adds its temperature and seed (greedy ones keep the v1 id)
    case "Evaluated": return `${e.runId}:eval:${e.policyVersion}:${e.benchmark}:${e.metric}:${e.k}:${e.scorer}${e.temperature ? `:T${e.temperature}:s${e.seed}` : ""}`;
    case "DeadLettered": return `${e.runId}:dlq:${e.stream}:${e.seq}`;
  }
}
