// Public API of the reward rules: format, answer extraction, the verifier, the registry (see README.md).
export { score, scoreAnswer, extractAnswer } from "./score.ts";
export { resolveReward, registerReward, rewardNames, rewardId, baseRewardId, scorerOfRecord, scorerOfUpdate, combine, type RewardOptions } from "./registry.ts";
export { equivalent, type Verdict } from "./equiv.ts";
export { strictFormat, looseFormat, formatChecks } from "./format.ts";
export { lastBoxed, lenientAnswer, answerTagContent } from "./extract.ts";
export { rewardSpecOf, scorerOf, poolSettingsOf, groupScoredOf } from "./spec.ts";
export { passed, evalMetrics, headlineMetric, type Judged } from "./metrics.ts";
export { isSelfCheck, hasRevisedStep, thinkPart, statedBeforeCheck, caughtAndFixed } from "./selfcheck.ts";
export * from "./types.ts";
