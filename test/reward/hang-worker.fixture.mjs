// Test fixture for the pool: a worker that hangs forever when the gold answer is "hang" and
// otherwise answers a fixed correct verdict. Lets the pool test prove termination deterministically.
import { parentPort } from "node:worker_threads";
parentPort.on("message", ({ id, job }) => {
  if (job.gold === "hang") for (;;) { /* stuck */ }
  if (job.gold === "crash") process.exit(3);
  parentPort.postMessage({ id, result: { reward: 1, format: 1, accuracy: 1, outcome: "correct", extracted: job.text, ms: 0 } });
});
parentPort.postMessage({ ready: true });
