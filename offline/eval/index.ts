// Public API of the evaluator (see README.md).
export { evaluatePolicy, responseSeed, EvalOptionsError, MAX_SAMPLES, type PolicyEval, type EvalSample, type EvaluatePolicyOptions } from "./evaluate.ts";
export { evaluateRun, runVersions, recordedEvaluations, UnknownVersionError, type EvaluateRunOptions, type RunEval } from "./run.ts";
export { resolveBenchmark, parseMapKeys, UnknownBenchmarkError, type Benchmark } from "./benchmarks.ts";
