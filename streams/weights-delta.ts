// Weight deltas (issue 17 item 2): the 16-bit words that changed between two equal-sized byte strings
// (two BF16 safetensors of one model: the header is the same, every bf16 value is one word), as a sparse,
// compressed, digest-verified patch. An lr of 1e-6 moves a bf16 weight across a rounding boundary rarely,
// so a version's BF16 copy differs from the previous one in a few per cent of its values (measured:
// README). Applying a patch checks that it is applied to its base and that the result hashes to its target;
// a generator that lacks the base reads the full weights instead.
//
// Layout: "ZSDELTA1", u32 little-endian header length, the header (JSON: base and target digests, the
// byte size, the words changed), then raw DEFLATE of [varint gaps between changed word indices][the new
// words, little-endian u16].
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { sha256 } from "./eventlog.ts";

const MAGIC = "ZSDELTA1";

export class WeightsDeltaError extends Error {}

export type DeltaHeader = { base: string; target: string; size: number; changed: number };
export type Delta = { bytes: Uint8Array; header: DeltaHeader };

/** The 16-bit words of bytes, a view when they are 2-byte aligned (a copy otherwise). */
function words16(x: Uint8Array): Uint16Array {
  return x.byteOffset % 2 ? new Uint16Array(x.slice().buffer) : new Uint16Array(x.buffer, x.byteOffset, x.length >> 1);
}
/** Pairs of words as 32-bit values, a view when 4-byte aligned; null when not (then words are compared one by one). */
function words32(x: Uint8Array): Uint32Array | null {
  return x.byteOffset % 4 ? null : new Uint32Array(x.buffer, x.byteOffset, x.length >> 2);
}

/** The patch from base to next (both the same even length); digests as sha256 of the byte strings. */
export function encodeDelta(base: Uint8Array, next: Uint8Array, digests?: { base?: string; target?: string }): Delta {
  if (base.length !== next.length) throw new WeightsDeltaError(`a delta needs byte strings of one size: ${base.length} and ${next.length}`);
  if (base.length % 2) throw new WeightsDeltaError(`a delta works on 16-bit words: ${base.length} bytes is odd`);
  const words = base.length / 2;
  const a = words16(base), b = words16(next);
  // pairs of words compared at once where both are 4-byte aligned: most words did not change (a bf16 copy
  // after an lr-1e-6 step: 96-99 % of them), so most of the scan is equal pairs skipped
  const a32 = words32(base), b32 = words32(next);
  let changed = 0;
  if (a32 && b32) {
    for (let j = 0; j < a32.length; j++) if (a32[j] !== b32[j]) changed += (a[2 * j] !== b[2 * j] ? 1 : 0) + (a[2 * j + 1] !== b[2 * j + 1] ? 1 : 0);
    if (words % 2 && a[words - 1] !== b[words - 1]) changed++;
  } else {
    for (let i = 0; i < words; i++) if (a[i] !== b[i]) changed++;
  }
  // varint gaps (at most 5 bytes each) then the values
  const body = new Uint8Array(changed * 5 + changed * 2);
  let at = 0, prev = -1;
  const values = new Uint16Array(changed);
  let k = 0;
  const put = (i: number) => {
    let gap = i - prev - 1;
    prev = i;
    while (gap >= 0x80) { body[at++] = (gap & 0x7f) | 0x80; gap >>>= 7; }
    body[at++] = gap;
    values[k++] = b[i];
  };
  if (a32 && b32) {
    for (let j = 0; j < a32.length; j++) {
      if (a32[j] === b32[j]) continue;
      if (a[2 * j] !== b[2 * j]) put(2 * j);
      if (a[2 * j + 1] !== b[2 * j + 1]) put(2 * j + 1);
    }
    if (words % 2 && a[words - 1] !== b[words - 1]) put(words - 1);
  } else {
    for (let i = 0; i < words; i++) if (a[i] !== b[i]) put(i);
  }
  body.set(new Uint8Array(values.buffer), at);
  at += changed * 2;
  const header: DeltaHeader = { base: digests?.base ?? sha256(base), target: digests?.target ?? sha256(next), size: next.length, changed };
  const h = Buffer.from(JSON.stringify(header));
  // level 1: the gaps and new values barely compress (measured at 0.5B: level 6 left 78 % of the body), and
  // the encode is on the updater's critical path
  const packed = deflateRawSync(body.subarray(0, at), { level: 1 });
  const out = new Uint8Array(8 + 4 + h.length + packed.length);
  out.set(Buffer.from(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, h.length, true);
  out.set(h, 12);
  out.set(packed, 12 + h.length);
  return { bytes: out, header };
}

export function deltaHeader(patch: Uint8Array): DeltaHeader {
  if (patch.length < 12 || Buffer.from(patch.subarray(0, 8)).toString() !== MAGIC) throw new WeightsDeltaError("not a weights delta (no ZSDELTA1 magic)");
  const n = new DataView(patch.buffer, patch.byteOffset, patch.length).getUint32(8, true);
  if (12 + n > patch.length) throw new WeightsDeltaError("weights delta: header past the end");
  return JSON.parse(Buffer.from(patch.subarray(12, 12 + n)).toString()) as DeltaHeader;
}

/**
 * base + patch: the target bytes, verified against the patch's target digest. baseDigest: the digest the
 * caller knows base by (checked against the patch's; hashed when not given).
 */
export function applyDelta(base: Uint8Array, patch: Uint8Array, baseDigest?: string): { bytes: Uint8Array; digest: string } {
  const h = deltaHeader(patch);
  const bd = baseDigest ?? sha256(base);
  if (bd !== h.base) throw new WeightsDeltaError(`weights delta applies to ${h.base}, not to ${bd}`);
  if (base.length !== h.size) throw new WeightsDeltaError(`weights delta for ${h.size} bytes, base has ${base.length}`);
  const n = new DataView(patch.buffer, patch.byteOffset, patch.length).getUint32(8, true);
  let body: Buffer;
  try { body = inflateRawSync(patch.subarray(12 + n)); } catch (err) { throw new WeightsDeltaError(`weights delta: the body does not inflate (${(err as Error).message})`); }
  const out = new Uint8Array(base);   // a copy: the base stays what it was
  const w = new Uint16Array(out.buffer, out.byteOffset, out.length / 2);
  const valuesAt = body.length - 2 * h.changed;
  if (valuesAt < 0) throw new WeightsDeltaError("weights delta: body shorter than its values");
  const values = new Uint16Array(body.buffer.slice(body.byteOffset + valuesAt, body.byteOffset + body.length));
  let at = 0, idx = -1;
  for (let k = 0; k < h.changed; k++) {
    let gap = 0, shift = 0, byte: number;
    do {
      if (at >= valuesAt) throw new WeightsDeltaError("weights delta: index stream truncated");
      byte = body[at++];
      gap += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    idx += gap + 1;
    if (idx >= w.length) throw new WeightsDeltaError(`weights delta: word ${idx} past the end (${w.length} words)`);
    w[idx] = values[k];
  }
  if (at !== valuesAt) throw new WeightsDeltaError("weights delta: index stream longer than its values");
  const digest = sha256(out);
  if (digest !== h.target) throw new WeightsDeltaError(`weights delta gives ${digest}, not its target ${h.target}`);
  return { bytes: out, digest };
}
