// Run inside the workers' namespace by netns.test.ts when a run does not finish
// (`npx tsx test/cluster/netns-jsz.ts DIR`): each node's own view of every stream (its leader, its
// replicas and whether they are current), from the monitoring port, one line per node and stream.
// A stream that no node calls led, or that two nodes lead, is what a cut link can leave behind.
import { monitorOf, paths, readJson, type ClusterSpec } from "../../cli/cluster/layout.ts";
import { monitorGet } from "../../streams/nats-server.ts";

type StreamDetail = { name: string; cluster?: { leader?: string; replicas?: { name: string; current: boolean; lag?: number; active?: number }[] }; state?: { messages: number; last_seq: number } };
const dir = process.argv[2];
const spec = readJson<ClusterSpec>(paths(dir).spec)!;
for (const n of spec.nodes) {
  try {
    const r = await monitorGet(monitorOf(dir, spec, n), "/jsz?accounts=true&streams=true");
    const body = r?.body as { meta_cluster?: { leader?: string }; account_details?: { stream_detail?: StreamDetail[] }[] } | undefined;
    const streams = (body?.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    process.stdout.write(`${n.name}: meta leader ${body?.meta_cluster?.leader ?? "none"}, ${streams.length} streams\n`);
    for (const s of streams) {
      const reps = (s.cluster?.replicas ?? []).map((x) => `${x.name}${x.current ? "" : "(behind)"}${x.lag ? ` lag ${x.lag}` : ""}`).join(" ");
      process.stdout.write(`  ${s.name}: leader ${s.cluster?.leader ?? "none"} replicas [${reps}] msgs ${s.state?.messages} last_seq ${s.state?.last_seq}\n`);
    }
  } catch (err) {
    process.stdout.write(`${n.name}: ${(err as Error).message}\n`);
  }
}
