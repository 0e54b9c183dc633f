// Where the nodes are: the spec `cluster init/up` builds from --hosts/--listen/--port or a cluster file
// (ports, advertised hosts, bind addresses), kept across ups and refused when changed; the routes and
// node certificates that follow from it (subjectAltNames read back with openssl).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { initCluster } from "../../cli/cluster/init.ts";
import { clusterBlock, ensureSpec, hostOf, listenOf, serverUrls } from "../../cli/cluster/layout.ts";
import { ClusterSpecError } from "../../cli/cluster/errors.ts";
import { nodeCertFiles } from "../../cli/cluster/pki.ts";

describe("cluster layout: hosts, ports, routes, certificates", () => {
  const dirs: string[] = [];
  const tmp = () => { const d = mkdtempSync(join(tmpdir(), "zs-layout-")); dirs.push(d); return d; };
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it("three hosts of their own: the usual ports on each, routes to the others' hosts, TLS on by default", async () => {
    const spec = await ensureSpec(tmp(), { hosts: ["a.lan", "b.lan", "10.0.0.3"] });
    assert.equal(spec.replicas, 3);
    assert.equal(spec.tls, true);
    assert.deepEqual(spec.nodes.map((n) => [n.name, n.port, n.clusterPort, n.httpPort]), [["n0", 4222, 6222, 8222], ["n1", 4222, 6222, 8222], ["n2", 4222, 6222, 8222]]);
    assert.deepEqual(serverUrls(spec), ["nats://a.lan:4222", "nats://b.lan:4222", "nats://10.0.0.3:4222"]);
    assert.deepEqual(spec.nodes.map(listenOf), ["0.0.0.0", "0.0.0.0", "10.0.0.3"]);
    const block = clusterBlock(spec, spec.nodes[0], "  tls {}");
    assert.match(block, /listen: "0\.0\.0\.0:6222"/);
    assert.match(block, /advertise: "a\.lan:6222"/);
    assert.match(block, /routes: \["nats-route:\/\/b\.lan:6222", "nats-route:\/\/10\.0\.0\.3:6222"\]/);
  });

  it("three nodes on one host: ports BASE+i (or 4222+i), one --listen for all", async () => {
    const spec = await ensureSpec(tmp(), { nodes: 3, hosts: ["h.lan"], listen: ["10.1.1.1"], basePort: 5000 });
    assert.deepEqual(spec.nodes.map((n) => [hostOf(n), listenOf(n), n.port, n.clusterPort, n.httpPort]),
      [["h.lan", "10.1.1.1", 5000, 5100, 5200], ["h.lan", "10.1.1.1", 5001, 5101, 5201], ["h.lan", "10.1.1.1", 5002, 5102, 5202]]);
    const shared = await ensureSpec(tmp(), { nodes: 3, hosts: ["h.lan"] });
    assert.deepEqual(shared.nodes.map((n) => n.port), [4222, 4223, 4224]);
  });

  it("a cluster file names the nodes; the spec is kept, and a change of hosts is refused", async () => {
    const dir = tmp();
    const file = join(dir, "hosts.json");
    writeFileSync(file, JSON.stringify({ nodes: [{ name: "east", host: "e.lan", port: 14222 }, { name: "west", host: "w.lan" }, { name: "north", host: "n.lan", listen: "0.0.0.0" }], tls: false }));
    const spec = await ensureSpec(dir, { file });
    assert.deepEqual(spec.nodes.map((n) => n.name), ["east", "west", "north"]);
    assert.equal(spec.nodes[0].port, 14222);
    assert.equal(spec.tls, false);
    assert.deepEqual(await ensureSpec(dir, {}), spec, "kept across ups");
    await assert.rejects(ensureSpec(dir, { hosts: ["x.lan", "w.lan", "n.lan"] }), ClusterSpecError);
    await assert.rejects(ensureSpec(tmp(), { hosts: ["a.lan", "b.lan"] }), /1 or 3 nodes/);
    await assert.rejects(ensureSpec(tmp(), { nodes: 3, hosts: ["a.lan", "b.lan"] }), /gives 2 addresses for 3 nodes/);
    await assert.rejects(ensureSpec(tmp(), { hosts: ["a.lan; rm -rf /"] }), /not a host name or address/);
  });

  it("each node's certificate names its host and listen address, never another node's", async () => {
    const dir = tmp();
    await initCluster(dir, { hosts: ["a.lan", "10.0.0.2", "c.lan"], listen: ["10.0.0.1", "10.0.0.2", "0.0.0.0"] });
    const sans = (n: string) => spawnSync("openssl", ["x509", "-in", nodeCertFiles(dir, n).cert, "-noout", "-ext", "subjectAltName,extendedKeyUsage"], { encoding: "utf8" }).stdout;
    assert.match(sans("n0"), /DNS:a\.lan, IP Address:10\.0\.0\.1, DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(sans("n0"), /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.doesNotMatch(sans("n0"), /10\.0\.0\.2|c\.lan/);
    assert.match(sans("n2"), /DNS:c\.lan, DNS:localhost/);
    assert.doesNotMatch(sans("n2"), /0\.0\.0\.0/);
    const verify = spawnSync("openssl", ["verify", "-CAfile", join(dir, "tls", "ca.pem"), nodeCertFiles(dir, "n1").cert], { encoding: "utf8" });
    assert.match(verify.stdout, /OK/);
  });
});
