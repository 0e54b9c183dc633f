// Child of pool.test.ts: several concurrent poolStress calls (libuv threads, as AsyncWorkers in
// production) while the main thread changes the thread count; prints one JSON line. A broken pool
// hangs or crashes here, and the parent's timeout turns that into a failed test.
import { getThreads, poolStress, setThreads } from "../../native/index.ts";

const millis = Number(process.argv[2] ?? 3000), callers = Number(process.argv[3] ?? 3);
setThreads(2);
let flips = 0;
const flipper = setInterval(() => { setThreads(1 + (flips++ % 3)); }, 5);
const results = await Promise.all(Array.from({ length: callers }, (_, c) => poolStress(1 + c, millis, 1e12, 7)));
clearInterval(flipper);
setThreads(2);
const total = results.reduce((a, r) => {
  for (const k of Object.keys(r) as (keyof typeof r)[]) a[k] = (a[k] ?? 0) + r[k];
  return a;
}, {} as Record<string, number>);
console.log(JSON.stringify({ ...total, callers, flips, threads: getThreads() }));
