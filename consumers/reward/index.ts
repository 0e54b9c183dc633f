// Public API of the reward verifier (see README.md).
export { score, scoreAnswer, extractAnswer } from "./score.ts";
export { ScorerPool, DEFAULT_TIMEOUT_MS, type ScoreJob, type PoolOptions } from "./pool.ts";
export { resolveReward, registerReward, rewardNames, rewardId, baseRewardId, scorerOfRecord, scorerOfUpdate, combine, type RewardOptions } from "./registry.ts";
export { equivalent, type Verdict } from "./equiv.ts";
export { strictFormat, looseFormat, formatChecks } from "./format.ts";
export { lastBoxed, lenientAnswer, answerTagContent } from "./extract.ts";
export { loadVerifierCases, VerifierCase } from "./cases.ts";
export * from "./types.ts";
