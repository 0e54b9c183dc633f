// Run inside a namespace by netns.test.ts (`npx tsx test/cluster/netns-probe.ts DIR RUN STEPS PERSTEP`):
// connects to the cluster of DIR (a bundle with the admin's creds) and prints, as one JSON line, the
// run's per-step weights digests and its audit (violations; each group sampled and scored once).
import { credsPath, connectAuth } from "../../cli/cluster/auth.ts";
import { stepDigests } from "../../cli/cluster/chaos.ts";
import { paths, readJson, serverUrls, type ClusterSpec } from "../../cli/cluster/layout.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { auditRun } from "./harness.ts";

const [dir, runId, steps, perStep] = process.argv.slice(2);
const spec = readJson<ClusterSpec>(paths(dir).spec)!;
const log = await EventLog.connect(serverUrls(spec), { ...connectAuth(credsPath(dir, "admin")), replicas: spec.replicas, name: "zerostream-admin/probe" });
let audit: string;
try {
  await auditRun(log, runId, Number(steps), Number(perStep));
  audit = "clean";
} catch (err) {
  audit = (err as Error).message;
}
const digests = await stepDigests(log, runId);
await log.close();
process.stdout.write(JSON.stringify({ runId, audit, digests }) + "\n");
