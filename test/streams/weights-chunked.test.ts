// The chunked layout of weights (runtime.weights_transport chunked) against a real nats-server: blobs as
// content-addressed chunks stored once plus a manifest, the same digests as the object layout, read in
// parallel with each chunk verified, a chunk cache that fetches only what changed, and named failures
// for an altered or missing chunk or manifest.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolveConfig } from "../../streams/config.ts";
import { WeightsDigestError, WeightsNotFoundError, WeightsReadStalledError } from "../../streams/errors.ts";
import { sha256 } from "../../streams/eventlog.ts";
import { ChunkCache, chunkName, manifestName, type PutOptions } from "../../streams/weights-store.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const CB = 1024;   // small chunks keep the blobs small
const chunked: PutOptions = { layout: "chunked", chunkBytes: CB };
const bytesOf = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 17 + (i >> 9)) & 0xff);

describe("ChunkCache", () => {
  it("keeps copies up to maxBytes and drops the least recently used first", () => {
    const c = new ChunkCache(3000);
    const a = bytesOf(1000, 1), b = bytesOf(1000, 2), d = bytesOf(1000, 3), e = bytesOf(1000, 4);
    c.put("a", a); c.put("b", b); c.put("d", d);
    a[0] ^= 1;                                   // the cache holds a copy: the caller's buffer may change
    assert.notDeepEqual(c.get("a"), a);
    c.put("e", e);                               // "a" was just used: "b" goes
    assert.deepEqual([c.get("b"), c.size, c.bytes], [undefined, 3, 3000]);
    assert.ok(c.get("a") && c.get("d") && c.get("e"));
    c.put("big", bytesOf(3001));                 // larger than the whole cache: not kept, nothing dropped
    assert.deepEqual([c.get("big"), c.size], [undefined, 3]);
    assert.throws(() => new ChunkCache(-1), /maxBytes must be a non-negative integer, got -1/);
  });
});

describe("chunked weights on a real nats-server", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  const names = async (run: string) => (await (await bus.log.weights(run)).list()).map((i) => i.name);
  const chunkCount = async (run: string) => (await names(run)).filter((n) => n.startsWith("chunk/")).length;

  it("round-trips 0, 1, odd, one chunk, several chunks and a partial one, under the object layout's digest", async () => {
    const run = uniqueRunId(), objRun = uniqueRunId();
    for (const n of [0, 1, 777, CB, 5 * CB + 333]) {
      const bytes = bytesOf(n);
      const digest = await bus.log.putBlob(run, bytes, chunked);
      assert.equal(digest, sha256(bytes));
      assert.equal(await bus.log.putBlob(objRun, bytes), digest, `${n} bytes: the object layout's digest`);
      const r = await bus.log.getBlobWithStats(run, digest);
      assert.deepEqual(r.bytes, bytes, `${n} bytes read back`);
      assert.equal(r.stats.layout, "chunked");
      assert.equal(r.stats.chunks, Math.ceil(n / CB));
      assert.equal((await bus.log.getBlobWithStats(objRun, digest)).stats.layout, "object");
    }
    const all = await names(run);
    assert.equal(all.filter((n) => n.startsWith("manifest/")).length, 5);
    assert.ok(!all.some((n) => /^sha256:/.test(n)), "no whole object stored");
    // the manifest: digest, size, chunk size and the chunks' digests in order
    const bytes = bytesOf(5 * CB + 333);
    const m = JSON.parse(new TextDecoder().decode((await (await bus.log.weights(run)).getBlob(manifestName(sha256(bytes))))!));
    assert.deepEqual(m, { v: 1, digest: sha256(bytes), size: bytes.length, chunkBytes: CB, chunks: Array.from({ length: 6 }, (_, i) => sha256(bytes.subarray(i * CB, (i + 1) * CB))) });
  });

  it("stores a chunk once: a blob differing in one chunk stores one new chunk, and a reader with a cache fetches only that one", async () => {
    const run = uniqueRunId();
    const a = bytesOf(6 * CB + 100, 3);
    const da = await bus.log.putBlob(run, a, chunked);
    assert.equal(await chunkCount(run), 7);
    assert.equal(await bus.log.putBlob(run, a, chunked), da);           // stored twice: nothing new
    assert.equal(await chunkCount(run), 7);
    const b = a.slice();
    b[2 * CB + 5] ^= 0x40;                                               // one bf16 word of chunk 2
    const db = await bus.log.putBlob(run, b, chunked);
    assert.equal(await chunkCount(run), 8, "exactly one new chunk object");
    const cache = new ChunkCache(8 * CB);
    const ra = await bus.log.getBlobWithStats(run, da, { cache });
    assert.deepEqual([ra.stats.fetched, ra.stats.reused], [7, 0]);
    const rb = await bus.log.getBlobWithStats(run, db, { cache });
    assert.deepEqual(rb.bytes, b);
    assert.deepEqual([rb.stats.fetched, rb.stats.fetchedBytes, rb.stats.reused, rb.stats.reusedBytes], [1, CB, 6, 5 * CB + 100]);
    // a chunk repeated within a blob (zeros: fresh optimizer moments) is stored and fetched once
    const zeros = new Uint8Array(4 * CB);
    const dz = await bus.log.putBlob(run, zeros, chunked);
    assert.equal(await chunkCount(run), 9);
    const rz = await bus.log.getBlobWithStats(run, dz);
    assert.deepEqual([rz.stats.fetched, rz.stats.reused], [1, 3]);
    assert.deepEqual(rz.bytes, zeros);
  });

  it("fetches chunks in parallel, bounded by concurrency", async () => {
    const run = uniqueRunId();
    const bytes = bytesOf(16 * CB, 5);
    const digest = await bus.log.putBlob(run, bytes, chunked);
    const t4 = performance.now();
    const four = await bus.log.getBlobWithStats(run, digest, { concurrency: 4 });
    const ms4 = performance.now() - t4, t1 = performance.now();
    const one = await bus.log.getBlobWithStats(run, digest, { concurrency: 1 });
    const ms1 = performance.now() - t1;
    assert.deepEqual([four.bytes, one.bytes], [bytes, bytes]);
    assert.deepEqual([four.stats.maxInFlight, one.stats.maxInFlight], [4, 1]);
    console.log(`  16 chunks: ${ms4.toFixed(0)} ms with 4 in flight, ${ms1.toFixed(0)} ms one at a time`);
  });

  it("an altered chunk is a WeightsDigestError naming the chunk and the blob; a missing one a WeightsNotFoundError", async () => {
    const run = uniqueRunId();
    const bytes = bytesOf(3 * CB + 10, 7);
    const digest = await bus.log.putBlob(run, bytes, chunked);
    const store = await bus.log.weights(run);
    const c1 = sha256(bytes.subarray(CB, 2 * CB));
    const forged = bytes.slice(CB, 2 * CB);
    forged[100] ^= 1;
    await store.putBlob({ name: chunkName(c1) }, forged);               // other bytes under the chunk's name
    await assert.rejects(bus.log.getBlob(run, digest), (e: Error) => e instanceof WeightsDigestError
      && e.message.includes(`chunk 1 (chunk/${c1}) of weights ${digest}`) && /hashes to sha256:[0-9a-f]{64}: the stored chunk was altered/.test(e.message));
    await store.putBlob({ name: chunkName(c1) }, forged.subarray(0, 500)); // another size
    await assert.rejects(bus.log.getBlob(run, digest), (e: Error) => e instanceof WeightsDigestError && /is 500 bytes, the manifest places 1024/.test(e.message));
    await store.delete(chunkName(c1));
    await assert.rejects(bus.log.getBlob(run, digest), (e: Error) => e instanceof WeightsNotFoundError
      && e.message.includes(`chunk 1 (chunk/${c1}) of weights ${digest} is missing`));
    await bus.log.putBlob(run, bytes, chunked);                          // the manifest is there: a put does not repair
    await assert.rejects(bus.log.getBlob(run, digest), WeightsNotFoundError);
    await assert.rejects(bus.log.getBlob(run, sha256(new Uint8Array([9]))), (e: Error) => e instanceof WeightsNotFoundError && /no object sha256:.* and no manifest of it/.test(e.message));
  });

  it("a manifest naming other chunks, or not a manifest, is a WeightsDigestError", async () => {
    const run = uniqueRunId();
    const a = bytesOf(2 * CB, 8), b = bytesOf(2 * CB, 9);
    const da = await bus.log.putBlob(run, a, chunked), db = await bus.log.putBlob(run, b, chunked);
    const store = await bus.log.weights(run);
    const mb = JSON.parse(new TextDecoder().decode((await store.getBlob(manifestName(db)))!));
    await store.putBlob({ name: manifestName(da) }, new TextEncoder().encode(JSON.stringify({ ...mb, digest: da })));  // a's name, b's chunks
    await assert.rejects(bus.log.getBlob(run, da), (e: Error) => e instanceof WeightsDigestError && /assembled from the chunks its manifest names, hash to/.test(e.message));
    await store.putBlob({ name: manifestName(da) }, new TextEncoder().encode("{}"));
    await assert.rejects(bus.log.getBlob(run, da), (e: Error) => e instanceof WeightsDigestError && /the manifest of weights .* is not a manifest/.test(e.message));
  });

  it("putSource stores in one pass, chunk by chunk, under the digest putBlob gives; stored again it puts nothing", async () => {
    const run = uniqueRunId(), other = uniqueRunId();
    const bytes = bytesOf(7 * CB + 99, 11);
    let reads = 0;
    const src = { size: bytes.length, read: (off: number, out: Uint8Array) => { reads++; out.set(bytes.subarray(off, off + out.length)); } };
    const digest = await bus.log.putSource(run, src, chunked);
    assert.equal(digest, sha256(bytes));
    assert.equal(reads, 8, "each chunk read once");
    assert.equal(await bus.log.putBlob(other, bytes, chunked), digest);
    assert.deepEqual(await bus.log.getBlob(run, digest), bytes);
    assert.deepEqual((await names(run)).sort(), (await names(other)).sort(), "the same chunk and manifest objects");
    assert.equal(await bus.log.putSource(run, src, chunked), digest);
    assert.equal(await chunkCount(run), 8);
    assert.equal(await bus.log.putSource(uniqueRunId(), { size: 0, read: () => { throw new Error("nothing to read"); } }, chunked), sha256(new Uint8Array(0)));
  });

  it("refuses an odd chunk size (a bf16 value would be split)", async () => {
    await assert.rejects(bus.log.putBlob(uniqueRunId(), bytesOf(10), { layout: "chunked", chunkBytes: 1023 }), /chunkBytes must be a positive even integer .* got 1023/);
  });

  it("a chunk whose read stalls (the server frozen mid-blob) is read again; frozen for good, a WeightsReadStalledError names the chunk", async () => {
    const own = await startBus();   // a server of its own: it is frozen (SIGSTOP) under the read
    // the cache is told of each verified chunk: the server is frozen once 3 chunks of the blob are in
    class FreezeAfter extends ChunkCache {
      seen = 0;
      constructor(private n: number, private thawMs: number | null) { super(1 << 20); }
      override put(d: string, b: Uint8Array) {
        super.put(d, b);
        if (++this.seen !== this.n) return;
        process.kill(own.server.pid, "SIGSTOP");
        if (this.thawMs !== null) setTimeout(() => process.kill(own.server.pid, "SIGCONT"), this.thawMs);
      }
    }
    try {
      const run = uniqueRunId();
      const bytes = bytesOf(64 * CB, 13);
      const digest = await own.log.putBlob(run, bytes, chunked);
      const t0 = Date.now();
      try {
        const r = await own.log.getBlobWithStats(run, digest, { idleMs: 600, attempts: 8, cache: new FreezeAfter(3, 2000) });
        assert.deepEqual(r.bytes, bytes);
        assert.equal(r.stats.fetched, 64);
      } finally { process.kill(own.server.pid, "SIGCONT"); }
      assert.ok(Date.now() - t0 >= 1800, `the read cannot have finished while the server was frozen (${Date.now() - t0} ms)`);
      try {
        await assert.rejects(own.log.getBlob(run, digest, { idleMs: 500, attempts: 2, concurrency: 2, cache: new FreezeAfter(3, null) }),
          (e: Error) => e instanceof WeightsReadStalledError && new RegExp(`reading chunk \\d+ \\(chunk/sha256:[0-9a-f]{64}\\) of weights ${digest} of run ${run}: no progress for 500 ms .* on each of 2 attempts`).test(e.message));
      } finally { process.kill(own.server.pid, "SIGCONT"); }
      assert.deepEqual(await own.log.getBlob(run, digest), bytes);   // thawed, the same connection reads it
    } finally {
      await own.stop();
    }
  });
});

describe("runtime.weights_transport chunked in the config", () => {
  it("is accepted with model.dtype f32 and bf16 (delta stays bf16-only)", () => {
    const base = tinyConfig();
    for (const dtype of ["f32", "bf16"]) {
      const cfg = resolveConfig({ ...base, model: { ...(base.model as object), dtype }, runtime: { ...(base.runtime as object), weights_transport: "chunked" } }, "test");
      assert.equal(cfg.runtime.weights_transport, "chunked");
    }
    assert.throws(() => resolveConfig({ ...base, runtime: { ...(base.runtime as object), weights_transport: "delta" } }, "test"), /delta needs model\.dtype bf16/);
  });
});
