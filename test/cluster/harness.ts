// Helpers for the cluster tests: the real `zerostream cluster` command in a temporary directory,
// an admin EventLog on the cluster, the run's audit, waiting with deadlines.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAuth, credsPath } from "../../cli/cluster/auth.ts";
import { readState, type ClusterState } from "../../cli/cluster/layout.ts";
import { auditEvents, type AuditReport } from "../../domain/audit.ts";
import { EventLog } from "../../streams/eventlog.ts";
import type { GroupSampled, GroupScored } from "../../streams/events/index.ts";

const root = join(import.meta.dirname, "..", "..");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function clusterDir(): string {
  return mkdtempSync(join(tmpdir(), "zs-cluster-"));
}

/** Runs `zerostream cluster <args>` and returns its exit code and output. */
export function cli(args: string[], timeoutMs = 240_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [join(root, "cli", "bin.mjs"), "cluster", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ZS_SETUP_QUIET: "1" } });
    let out = "";
    c.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    c.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
    const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
    c.once("exit", (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

export async function up(dir: string, args: string[]): Promise<ClusterState> {
  const r = await cli(["up", "--dir", dir, ...args]);
  assert.equal(r.code, 0, r.out);
  return readState(dir)!;
}

export async function adminLog(dir: string, state: ClusterState): Promise<EventLog> {
  return EventLog.connect(state.servers, { ...connectAuth(credsPath(dir, "admin")), replicas: state.replicas, name: "zerostream-admin/test" });
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms: number, everyMs = 250): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The run's audit, plus: every step's groups sampled exactly once and scored exactly once. */
export async function auditRun(log: EventLog, runId: string, steps: number, perStep: number): Promise<AuditReport> {
  const events = await log.replayAll(runId);
  const audit = auditEvents(events);
  assert.deepEqual(audit.violations, [], JSON.stringify(audit.violations.slice(0, 5)));
  assert.equal(audit.steps, steps);
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const sampled = count(events.flatMap((e) => (e.event.type === "GroupSampled" ? [(e.event as GroupSampled).groupId] : [])));
  const scored = count(events.flatMap((e) => (e.event.type === "GroupScored" ? [(e.event as GroupScored).groupId] : [])));
  for (const u of audit.updates) {
    assert.equal(new Set(u.groupIds).size, perStep, `step ${u.step} uses ${u.groupIds.length} groups`);
    for (const g of u.groupIds) {
      assert.equal(sampled.get(g), 1, `${g} sampled ${sampled.get(g) ?? 0} times`);
      assert.equal(scored.get(g), 1, `${g} scored ${scored.get(g) ?? 0} times`);
    }
  }
  assert.equal(sampled.size, steps * perStep);
  assert.equal(scored.size, steps * perStep);
  return audit;
}

export function pidAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch { return false; }
}
