// What a worker needs to serve a run, rebuilt from the run's RunStarted event (the log is the source
// of truth: a worker on another machine needs nothing else), cached per run.
import type { Qwen2Config, RunConfig } from "../streams/config.ts";
import { prepareTrainSet, type PreparedDataset } from "./datasets.ts";
import { loadTokenizer, type Tokenizer } from "./tokenizer.ts";
import { PoisonMessageError } from "../streams/errors.ts";
import type { EventLog } from "../streams/eventlog.ts";
import { modelConfigOf, runConfigOf, type RunStarted } from "../streams/events/index.ts";

/** A message for a run with no RunStarted in the log can never be served: it is poison, not a retry. */
export class RunNotFoundError extends PoisonMessageError {}

export type RunContext = {
  runId: string;
  started: RunStarted;
  config: RunConfig;                // parsed from started.config (RecordedConfigError if it does not parse)
  modelConfig: Qwen2Config;         // parsed from started.modelConfig
  tokenizer(): Tokenizer;
  dataset(): Promise<PreparedDataset>;
};

export class RunContexts {
  private cache = new Map<string, Promise<RunContext>>();
  constructor(private log: EventLog) {}

  get(runId: string): Promise<RunContext> {
    let c = this.cache.get(runId);
    if (!c) {
      c = this.load(runId);
      c.catch(() => this.cache.delete(runId));
      this.cache.set(runId, c);
    }
    return c;
  }

  private async load(runId: string): Promise<RunContext> {
    const started = await this.log.runStarted(runId);
    if (!started) throw new RunNotFoundError(`run ${runId} has no RunStarted event in the log`);
    const config = runConfigOf(started), modelConfig = modelConfigOf(started);
    let tok: Tokenizer | undefined;
    let ds: Promise<PreparedDataset> | undefined;
    const tokenizer = () => (tok ??= loadTokenizer(config.tokenizer));
    return { runId, started, config, modelConfig, tokenizer, dataset: () => (ds ??= prepareTrainSet(config, tokenizer())) };
  }
}
