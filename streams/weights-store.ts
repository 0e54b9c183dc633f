// How a run's blobs (weights, their BF16 copies, optimizer snapshots, the reference) lie in its object
// store. Two layouts behind one interface: `object`, one object named by the blob's sha256 digest, and
// `chunked` (runtime.weights_transport chunked), content-addressed chunks `chunk/sha256:<hex>` stored
// once each plus a manifest `manifest/sha256:<digest of the blob>` listing them, read in parallel. The
// blob's digest is the same in both, so events name the same digests whatever the layout.
// EventLog.putBlob/putSource/getBlob are the entry points; this file knows no run config.
import { createHash } from "node:crypto";
import type { ObjectStore } from "@nats-io/obj";
import type { Logger } from "pino";
import { z } from "zod";
import { WeightsDigestError, WeightsNotFoundError, WeightsReadStalledError } from "./errors.ts";

export type WeightsLayout = "object" | "chunked";
export type BlobSource = { size: number; read(offset: number, out: Uint8Array): void };
export type PutOptions = {
  layout?: WeightsLayout;     // default object
  chunkBytes?: number;        // chunked: the size of a chunk, a positive even number (default CHUNK_BYTES)
  concurrency?: number;       // chunked: chunks stored at once (default 4)
};
export type ReadOptions = {
  idleMs?: number;            // a read of an object that gets no data for this long is abandoned (default 20 s)
  attempts?: number;          // and started again this many times in all (default 6): per object, so per chunk
  concurrency?: number;       // chunked: chunks fetched at once (default 4)
  cache?: ChunkCache;         // chunked: verified chunks kept from earlier reads, and where this read's go
};
/** What a read took: chunks fetched from the bus and chunks reused (from the cache, or a repeat within the blob). */
export type BlobReadStats = {
  layout: WeightsLayout; bytes: number; chunks: number;
  fetched: number; fetchedBytes: number; reused: number; reusedBytes: number;
  maxInFlight: number;        // the most chunk reads that overlapped
};
export type BlobRead = { bytes: Uint8Array; stats: BlobReadStats };
/** What a put stored: the blob's chunks (1 for the object layout) and how many of them were new. */
export type BlobPut = { digest: string; chunks: number; stored: number; storedBytes: number };

export interface WeightsStore {
  readonly layout: WeightsLayout;
  /** known: sha256(bytes) when the caller already hashed these very bytes (not hashed again). */
  put(bytes: Uint8Array, known?: string): Promise<BlobPut>;
  /** The bytes of a source read in slices, never held whole; the source must not change until this resolves. */
  putSource(src: BlobSource, sliceBytes?: number): Promise<BlobPut>;
  /** The bytes of a digest, verified against it; null when this layout does not hold it. */
  get(digest: string, o?: ReadOptions): Promise<BlobRead | null>;
}

// 4 MiB: a multiple of 8, so with safetensors' 8-byte aligned data section no f32 or bf16 value straddles
// two chunks (a changed value changes one chunk), and of the 1 MiB messages an object is stored in; large
// enough that a 1 GB copy is 256 objects (one manifest entry, one metadata lookup and one consumer each),
// small enough that a stalled read retries 4 MiB, not the model, and a few reads in flight fill the link.
export const CHUNK_BYTES = 4 * 1024 * 1024;
const MESSAGE_BYTES = 1024 * 1024;   // the object store's message size (the server's default max_payload)
const DEFAULT_CONCURRENCY = 4;

export const chunkName = (chunkDigest: string) => `chunk/${chunkDigest}`;
export const manifestName = (digest: string) => `manifest/${digest}`;

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
/** The manifest of a chunked blob: chunk i holds bytes [i·chunkBytes, min(size, (i+1)·chunkBytes)). */
export const ChunkManifest = z.strictObject({
  v: z.literal(1),
  digest: Digest,
  size: z.number().int().nonnegative(),
  chunkBytes: z.number().int().positive(),
  chunks: z.array(Digest),
});
export type ChunkManifest = z.infer<typeof ChunkManifest>;

/**
 * Verified chunks by digest, least recently used dropped first once they exceed maxBytes. Chunks are
 * content-addressed and verified before they are kept, so one cache serves any run and any blob.
 */
export class ChunkCache {
  private entries = new Map<string, Uint8Array>();   // insertion order is recency: the first is the least recent
  private held = 0;
  constructor(readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`ChunkCache maxBytes must be a non-negative integer, got ${maxBytes}`);
  }
  get bytes(): number { return this.held; }
  get size(): number { return this.entries.size; }
  get(digest: string): Uint8Array | undefined {
    const v = this.entries.get(digest);
    if (v) { this.entries.delete(digest); this.entries.set(digest, v); }
    return v;
  }
  /** Keeps a copy of verified bytes (a chunk larger than the whole cache is not kept). */
  put(digest: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxBytes) return;
    const had = this.entries.get(digest);
    if (had) { this.entries.delete(digest); this.held -= had.length; }
    this.entries.set(digest, bytes.slice());
    this.held += bytes.length;
    for (const [d, v] of this.entries) {
      if (this.held <= this.maxBytes) break;
      this.entries.delete(d);
      this.held -= v.length;
    }
  }
}

// ---- reading one object ------------------------------------------------------------------------

class ReadStalled extends Error {}
class SizeMismatch extends Error { constructor(readonly size: number) { super(`the object is ${size} bytes`); } }

/**
 * One read of an object, abandoned (its consumer stopped) when no data arrives for idleMs; null when absent.
 * `into`: read into this buffer (the object must be its size: else a SizeMismatch), not a new one.
 */
async function readObject(store: ObjectStore, name: string, idleMs: number, into?: Uint8Array): Promise<Uint8Array | null> {
  let timer: NodeJS.Timeout | undefined;
  let what = "opening the object";
  const stalled = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new ReadStalled(`no progress for ${idleMs} ms while ${what}`)), idleMs); });
  const progress = <T>(p: Promise<T>): Promise<T> => Promise.race([p, stalled]);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  stalled.catch(() => undefined);
  try {
    const opening = store.get(name);
    let opened = false;
    // abandoned while opening: the read that opens later is cancelled, its consumer stopped (once
    // opened, the reader below holds the stream and cancels it itself)
    opening.catch(() => undefined);
    stalled.catch(() => {
      if (!opened) void opening.then((late) => late?.data.cancel().catch(() => undefined), () => undefined);
    });
    const r = await progress(opening);
    opened = true;
    if (!r) return null;
    const failed = (r.error as Promise<Error | null | undefined>).then((e) => e, (e: Error) => e); // observed, never unhandled
    if (into && r.info.size !== into.length) {
      await r.data.cancel().catch(() => undefined);   // stops the consumer of a read not taken
      throw new SizeMismatch(r.info.size);
    }
    reader = r.data.getReader();
    // the messages are copied into one buffer of the object's size as they arrive: a model's bytes are
    // held once, not once in messages and again joined
    const out = into ?? new Uint8Array(r.info.size);
    let size = 0;
    for (;;) {
      what = `reading it (${size} of ${r.info.size} bytes)`;
      const { done, value } = await progress(reader.read());
      if (done) break;
      if (size + value.length > out.length) throw new Error(`object ${name} is larger than its recorded size ${r.info.size}`);
      out.set(value, size);
      size += value.length;
      timer!.refresh();
    }
    const e = await progress(failed); // a corrupt object (the store's own digest check) fails here
    if (e) throw e;
    if (size !== out.length) throw new Error(`object ${name}: read ${size} bytes, its recorded size is ${r.info.size}`);
    return out;
  } catch (err) {
    if (err instanceof ReadStalled) await reader?.cancel().catch(() => undefined); // stops the consumer
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

type Ctx = { store: ObjectStore; runId: string; log: Logger };

/**
 * readObject again after a stall: the object store reads through an ordered consumer that retries for
 * ever, and after a partition it can wait on a bucket stream that answers nothing. Its consumer is placed on
 * a random replica of the bucket (see EventLog.replay), and one frozen or behind has no chunk to give: each
 * attempt is placed anew, so short stalls and more attempts (20 s × 6, was 60 s × 3: all on such a replica
 * one time in 729 rather than 27). `attempts` stalls are a WeightsReadStalledError, never a hang.
 */
async function readRetrying(c: Ctx, name: string, what: string, o: ReadOptions, into?: Uint8Array): Promise<Uint8Array | null> {
  const idleMs = o.idleMs ?? 20_000, attempts = o.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await readObject(c.store, name, idleMs, into);
    } catch (err) {
      if (!(err instanceof ReadStalled)) throw err;
      if (attempt >= attempts) throw new WeightsReadStalledError(`reading ${what} of run ${c.runId}: ${err.message} on each of ${attempts} attempts (is the weights bucket's stream without a leader?)`, { cause: err });
      c.log.warn({ runId: c.runId, object: name, attempt, idleMs, err: err.message }, "weights read stalled; reading again");
    }
  }
}

async function holds(store: ObjectStore, name: string, size: number): Promise<boolean> {
  const info = await store.info(name);
  return Boolean(info && !info.deleted && info.size === size);
}

/** Runs f over 0..n-1, at most `limit` at once; after the first failure nothing new starts, and it is thrown once the running ones end. */
async function pool(n: number, limit: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0, failed = false;
  const worker = async () => {
    while (!failed && next < n) {
      const i = next++;
      try { await f(i); } catch (err) { failed = true; throw err; }
    }
  };
  const done = await Promise.allSettled(Array.from({ length: Math.min(n, Math.max(1, limit)) }, worker));
  const err = done.find((d): d is PromiseRejectedResult => d.status === "rejected");
  if (err) throw err.reason;
}

// ---- the object layout ---------------------------------------------------------------------------

/** One object named by the blob's digest (1 MiB messages). */
export class ObjectLayout implements WeightsStore {
  readonly layout = "object";
  constructor(private c: Ctx) {}

  async put(bytes: Uint8Array, known?: string): Promise<BlobPut> {
    const digest = known ?? sha256(bytes);
    if (await holds(this.c.store, digest, bytes.length)) return { digest, chunks: 1, stored: 0, storedBytes: 0 };
    await this.c.store.putBlob({ name: digest, options: { max_chunk_size: MESSAGE_BYTES } }, bytes);
    return { digest, chunks: 1, stored: 1, storedBytes: bytes.length };
  }

  /** Read twice: once to hash it (the object's name), once to store it. */
  async putSource(src: BlobSource, sliceBytes = 16 * 1024 * 1024): Promise<BlobPut> {
    const hash = createHash("sha256");
    const scratch = new Uint8Array(Math.max(1, Math.min(sliceBytes, src.size)));
    for (let off = 0; off < src.size; off += scratch.length) {
      const v = scratch.subarray(0, Math.min(scratch.length, src.size - off));
      src.read(off, v);
      hash.update(v);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (await holds(this.c.store, digest, src.size)) return { digest, chunks: 1, stored: 0, storedBytes: 0 };
    let off = 0;
    // a fresh slice each pull: the store keeps a reference to what it has not published yet
    const rs = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= src.size) { c.close(); return; }
        const v = new Uint8Array(Math.min(sliceBytes, src.size - off));
        src.read(off, v);
        off += v.length;
        c.enqueue(v);
      },
    });
    const put = await this.c.store.put({ name: digest, options: { max_chunk_size: MESSAGE_BYTES } }, rs);
    if (put.size !== src.size) throw new Error(`stored ${put.size} of the ${src.size} bytes of ${digest}`);
    return { digest, chunks: 1, stored: 1, storedBytes: src.size };
  }

  async get(digest: string, o: ReadOptions = {}): Promise<BlobRead | null> {
    const bytes = await readRetrying(this.c, digest, `weights ${digest}`, o);
    if (!bytes) return null;
    const actual = sha256(bytes);
    if (actual !== digest) throw new WeightsDigestError(`weights object ${digest} of run ${this.c.runId} hashes to ${actual}: the stored bytes were altered`);
    const n = bytes.length;
    return { bytes, stats: { layout: "object", bytes: n, chunks: 1, fetched: 1, fetchedBytes: n, reused: 0, reusedBytes: 0, maxInFlight: 1 } };
  }
}

// ---- the chunked layout --------------------------------------------------------------------------

// chunk puts in flight in this process, by bucket: two blobs put at once (the updater stores its weights,
// copy and optimizer together) that share a chunk store it once, not twice over each other
const putting = new WeakMap<ObjectStore, Map<string, Promise<boolean>>>();

/** Content-addressed chunks, each stored once, and a manifest per blob; read in parallel, each chunk verified. */
export class ChunkedLayout implements WeightsStore {
  readonly layout = "chunked";
  private chunkBytes: number;
  private concurrency: number;
  constructor(private c: Ctx, o: { chunkBytes?: number; concurrency?: number } = {}) {
    this.chunkBytes = o.chunkBytes ?? CHUNK_BYTES;
    this.concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isSafeInteger(this.chunkBytes) || this.chunkBytes <= 0 || this.chunkBytes % 2) {
      throw new RangeError(`chunkBytes must be a positive even integer (a bf16 value never split between chunks), got ${this.chunkBytes}`);
    }
    if (!Number.isSafeInteger(this.concurrency) || this.concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${this.concurrency}`);
  }

  /** Stores a chunk unless the bucket holds it; true when it was stored. */
  private putChunk(digest: string, bytes: Uint8Array): Promise<boolean> {
    let inFlight = putting.get(this.c.store);
    if (!inFlight) putting.set(this.c.store, (inFlight = new Map()));
    const name = chunkName(digest);
    const running = inFlight.get(name);
    if (running) return running.then(() => false);
    const p = (async () => {
      if (await holds(this.c.store, name, bytes.length)) return false;
      await this.c.store.putBlob({ name, options: { max_chunk_size: MESSAGE_BYTES } }, bytes);
      return true;
    })().finally(() => inFlight.delete(name));
    inFlight.set(name, p);
    return p;
  }

  /** The manifest last: a blob is readable only once every chunk it names is stored. */
  private async putManifest(m: ChunkManifest): Promise<void> {
    await this.c.store.putBlob({ name: manifestName(m.digest), options: { max_chunk_size: MESSAGE_BYTES } }, new TextEncoder().encode(JSON.stringify(m)));
  }

  async put(bytes: Uint8Array, known?: string): Promise<BlobPut> {
    const digest = known ?? sha256(bytes), cb = this.chunkBytes;
    const n = Math.ceil(bytes.length / cb);
    if (await this.c.store.info(manifestName(digest)).then((i) => i && !i.deleted)) return { digest, chunks: n, stored: 0, storedBytes: 0 };
    const views = Array.from({ length: n }, (_, i) => bytes.subarray(i * cb, Math.min(bytes.length, (i + 1) * cb)));
    const chunks = views.map(sha256);
    const first = new Map<string, number>();   // a chunk repeated within the blob (zeros) is stored once
    chunks.forEach((d, i) => { if (!first.has(d)) first.set(d, i); });
    const unique = [...first.values()];
    let stored = 0, storedBytes = 0;
    await pool(unique.length, this.concurrency, async (k) => {
      const i = unique[k];
      if (await this.putChunk(chunks[i], views[i])) { stored++; storedBytes += views[i].length; }
    });
    await this.putManifest({ v: 1, digest, size: bytes.length, chunkBytes: cb, chunks });
    return { digest, chunks: n, stored, storedBytes };
  }

  /**
   * One pass over the source: each chunk is read, hashed (it and the whole) and stored unless the bucket
   * holds it; at most `concurrency` chunks are held at once. A blob stored before costs a pass of hashing
   * and one metadata lookup a chunk. sliceBytes is the object layout's: here a slice is a chunk.
   */
  async putSource(src: BlobSource): Promise<BlobPut> {
    const cb = this.chunkBytes, n = Math.ceil(src.size / cb);
    const whole = createHash("sha256");
    const chunks: string[] = [];
    const running = new Set<Promise<void>>();
    const seen = new Set<string>();
    let stored = 0, storedBytes = 0, failure: unknown;
    for (let i = 0; i < n && failure === undefined; i++) {
      // a fresh buffer a chunk: the store keeps a reference to what it has not published yet
      const v = new Uint8Array(Math.min(cb, src.size - i * cb));
      src.read(i * cb, v);
      whole.update(v);
      const d = sha256(v);
      chunks.push(d);
      if (seen.has(d)) continue;
      seen.add(d);
      const p: Promise<void> = this.putChunk(d, v).then(
        (isNew) => { if (isNew) { stored++; storedBytes += v.length; } },
        (err) => { failure ??= err; },
      ).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= this.concurrency) await Promise.race(running);
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure;
    const digest = `sha256:${whole.digest("hex")}`;
    if (!(await this.c.store.info(manifestName(digest)).then((i) => i && !i.deleted))) {
      await this.putManifest({ v: 1, digest, size: src.size, chunkBytes: cb, chunks });
    }
    return { digest, chunks: n, stored, storedBytes };
  }

  private async manifest(digest: string, o: ReadOptions): Promise<ChunkManifest | null> {
    const raw = await readRetrying(this.c, manifestName(digest), `the manifest of weights ${digest}`, o);
    if (!raw) return null;
    const where = `the manifest of weights ${digest} of run ${this.c.runId}`;
    let m: ChunkManifest;
    try {
      m = ChunkManifest.parse(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw)));
    } catch (err) {
      throw new WeightsDigestError(`${where} is not a manifest (${(err as Error).message.slice(0, 200)}): the stored bytes were altered`, { cause: err });
    }
    const expect = Math.ceil(m.size / m.chunkBytes);
    if (m.digest !== digest || m.chunks.length !== expect) {
      throw new WeightsDigestError(`${where} names ${m.digest}, ${m.size} bytes in ${m.chunks.length} chunks of ${m.chunkBytes} (${expect} expected): the stored manifest was altered`);
    }
    return m;
  }

  /**
   * The manifest, then its chunks, `concurrency` at once, each read straight into its place in one buffer
   * and verified against its digest; a chunk the cache holds is copied, one repeated in the blob read
   * once. The whole is verified against the blob's digest (a manifest naming other chunks fails there).
   */
  async get(digest: string, o: ReadOptions = {}): Promise<BlobRead | null> {
    const m = await this.manifest(digest, o);
    if (!m) return null;
    const out = new Uint8Array(m.size);
    const at = (i: number) => out.subarray(i * m.chunkBytes, Math.min(m.size, (i + 1) * m.chunkBytes));
    const where = new Map<string, number[]>();   // chunk digest → its indices in the blob
    m.chunks.forEach((d, i) => { const w = where.get(d); if (w) w.push(i); else where.set(d, [i]); });
    const unique = [...where.keys()];
    const stats: BlobReadStats = { layout: "chunked", bytes: m.size, chunks: m.chunks.length, fetched: 0, fetchedBytes: 0, reused: 0, reusedBytes: 0, maxInFlight: 0 };
    let inFlight = 0;
    await pool(unique.length, o.concurrency ?? this.concurrency, async (k) => {
      const d = unique[k], [i, ...repeats] = where.get(d)!;
      const view = at(i);
      const cached = o.cache?.get(d);
      if (cached && cached.length === view.length) {
        view.set(cached);
        stats.reused++; stats.reusedBytes += view.length;
      } else {
        const chunk = `chunk ${i} (${chunkName(d)}) of weights ${digest}`;
        stats.maxInFlight = Math.max(stats.maxInFlight, ++inFlight);
        let got: Uint8Array | null;
        try {
          got = await readRetrying(this.c, chunkName(d), chunk, o, view);
        } catch (err) {
          if (err instanceof SizeMismatch) throw new WeightsDigestError(`${chunk} of run ${this.c.runId} is ${err.size} bytes, the manifest places ${view.length}: the stored chunk was altered`, { cause: err });
          throw err;
        } finally {
          inFlight--;
        }
        if (!got) throw new WeightsNotFoundError(`${chunk} is missing from the weights bucket of run ${this.c.runId}`);
        const actual = sha256(view);
        if (actual !== d) throw new WeightsDigestError(`${chunk} of run ${this.c.runId} hashes to ${actual}: the stored chunk was altered`);
        stats.fetched++; stats.fetchedBytes += view.length;
        o.cache?.put(d, view);
      }
      for (const j of repeats) { at(j).set(view); stats.reused++; stats.reusedBytes += view.length; }
    });
    const actual = sha256(out);
    if (actual !== digest) throw new WeightsDigestError(`weights ${digest} of run ${this.c.runId}, assembled from the chunks its manifest names, hash to ${actual}: the stored manifest was altered`);
    return { bytes: out, stats };
  }
}

/** The store of a layout over a run's bucket. */
export function weightsStore(layout: WeightsLayout, c: Ctx, o: PutOptions = {}): WeightsStore {
  return layout === "chunked" ? new ChunkedLayout(c, o) : new ObjectLayout(c);
}
