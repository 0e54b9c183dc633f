// A scorer thread: runs the pure core for each job the pool posts, one at a time.
import { parentPort } from "node:worker_threads";
import { score, scoreAnswer } from "../../domain/reward/score.ts";
import type { ScoreJob } from "./pool.ts";

if (!parentPort) throw new Error("compute/scoring/worker.ts must run in a worker thread (see pool.ts)");
const port = parentPort;
port.on("message", (msg: { id: number; job: ScoreJob }) => {
  const { id, job } = msg;
  const r = job.kind === "answer" ? scoreAnswer(job.text, job.gold, job.spec) : score(job.text, job.gold, job.spec);
  port.postMessage({ id, result: r });
});
port.postMessage({ ready: true });
