// One readable line per event, for `events tail` and logs.
import type { ZsEvent } from "./events/index.ts";

const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export function describeEvent(e: ZsEvent): string {
  switch (e.type) {
    case "RunStarted": return `RunStarted seed=${e.seed} config=${e.configHash} weights=${e.initialWeightsDigest.slice(7, 19)}${e.parent ? ` fork-of=${e.parent.runId}@${e.parent.step}` : ""}`;
    case "RunFinished": return `RunFinished ${e.reason} v${e.finalVersion}${e.message ? ` (${e.message})` : ""}`;
    case "RolloutRequested": return `RolloutRequested step=${e.step} ${e.taskId} v${e.policyVersion} prompts=${e.prompts.length}x${e.samplesPerPrompt}`;
    case "GroupSampled": {
      const len = e.samples.reduce((a, s) => a + s.tokens.length, 0) / e.samples.length;
      return `GroupSampled step=${e.step} ${e.groupId} v${e.policyVersion} prompt=${e.prompt.id} n=${e.samples.length} len=${f(len, 1)} by ${e.generator}`;
    }
    case "GroupScored": {
      const mean = e.scores.reduce((a, s) => a + s.reward, 0) / e.scores.length;
      const oc = [...new Set(e.scores.map((s) => s.outcome))].join("/");
      return `GroupScored step=${e.step} ${e.groupId} ${e.scorer} reward=${f(mean)} [${oc}] by ${e.worker}`;
    }
    case "PolicyUpdated": return `PolicyUpdated step=${e.step} v${e.fromVersion}->v${e.toVersion} groups=${e.groupIds.length} reward=${f(e.stats.rewardMean)} acc=${f(e.stats.accuracyRate)} fmt=${f(e.stats.formatRate)} len=${f(e.stats.responseLengthMean, 1)} kl=${f(e.stats.kl, 5)} loss=${f(e.stats.loss, 5)} weights=${e.weightsDigest.slice(7, 19)}`;
    case "Evaluated": return `Evaluated v${e.policyVersion} ${e.benchmark} ${e.metric}=${f(e.value)} n=${e.n} k=${e.k}`;
    case "DeadLettered": return `DeadLettered ${e.reason} ${e.subject}#${e.seq} by ${e.consumer}: ${e.error.slice(0, 160)}`;
  }
}
