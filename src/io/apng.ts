/**
 * Animated PNG from same-size PNG frames (sharp writes each frame; libvips has no APNG writer). Only the chunk
 * container is rearranged: frame 0's IDATs stay IDATs (so plain PNG readers show the first frame), later frames'
 * IDATs become fdAT chunks, each frame gets an fcTL, and one acTL follows the IHDR. No pixel data is re-encoded.
 */
import { crc32 } from 'node:zlib';
import { pngChunks } from './png-text.ts';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), out.length - 4);
  return out;
}

function fcTL(seq: number, width: number, height: number, delayMs: number): Buffer {
  const d = Buffer.alloc(26);
  d.writeUInt32BE(seq, 0);
  d.writeUInt32BE(width, 4);
  d.writeUInt32BE(height, 8);
  // x and y offsets 0; delay as a fraction of seconds: delayMs / 1000.
  d.writeUInt16BE(delayMs, 20);
  d.writeUInt16BE(1000, 22);
  d[24] = 0; // dispose: none (every frame covers the whole canvas)
  d[25] = 0; // blend: source (replace, no alpha compositing)
  return chunk('fcTL', d);
}

/**
 * frames: PNG files with identical IHDR (size, bit depth, colour type). delaysMs: one per frame, 0..65535.
 * Ancillary chunks before frame 0's IDAT (tEXt provenance, pHYs, ...) are kept; other frames' are dropped.
 */
export function assembleApng(frames: readonly Uint8Array[], delaysMs: readonly number[], loops = 0): Buffer {
  if (frames.length === 0) throw new RangeError('apng: no frames');
  if (delaysMs.length !== frames.length) throw new RangeError('apng: one delay per frame');
  for (const d of delaysMs)
    if (!Number.isInteger(d) || d < 0 || d > 65535) throw new RangeError(`apng: delay ${d} ms is not in 0..65535`);
  const parsed = frames.map((f) => [...pngChunks(Buffer.from(f.buffer, f.byteOffset, f.byteLength))]);
  const ihdr = parsed[0][0];
  if (ihdr?.type !== 'IHDR') throw new Error('apng: frame 0 does not start with IHDR');
  parsed.forEach((cs, i) => {
    if (cs[0]?.type !== 'IHDR' || !cs[0].data.equals(ihdr.data))
      throw new Error(`apng: frame ${i} differs from frame 0 in size or pixel format`);
  });
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(frames.length, 0);
  actl.writeUInt32BE(loops, 4);

  const out: Buffer[] = [SIGNATURE, chunk('IHDR', ihdr.data), chunk('acTL', actl)];
  const first = parsed[0];
  const firstIdat = first.findIndex((c) => c.type === 'IDAT');
  if (firstIdat < 0) throw new Error('apng: frame 0 has no IDAT');
  for (const c of first.slice(1, firstIdat)) out.push(chunk(c.type, c.data));
  let seq = 0;
  parsed.forEach((cs, i) => {
    out.push(fcTL(seq++, width, height, delaysMs[i]));
    for (const c of cs) {
      if (c.type !== 'IDAT') continue;
      if (i === 0) out.push(chunk('IDAT', c.data));
      else {
        const seqBuf = Buffer.alloc(4);
        seqBuf.writeUInt32BE(seq++, 0);
        out.push(chunk('fdAT', Buffer.concat([seqBuf, c.data])));
      }
    }
  });
  out.push(chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(out);
}

export interface ApngInfo {
  /** acTL's frame count (0 for a still PNG). */
  frames: number;
  loops: number;
  /** One per fcTL, in milliseconds. */
  delaysMs: number[];
}

/** Reads the animation control chunks back (for tests and inspection). */
export function apngInfo(png: Uint8Array): ApngInfo {
  const info: ApngInfo = { frames: 0, loops: 0, delaysMs: [] };
  for (const c of pngChunks(Buffer.from(png.buffer, png.byteOffset, png.byteLength))) {
    if (c.type === 'acTL') {
      info.frames = c.data.readUInt32BE(0);
      info.loops = c.data.readUInt32BE(4);
    } else if (c.type === 'fcTL') {
      const num = c.data.readUInt16BE(20);
      const den = c.data.readUInt16BE(22) || 100; // the spec: a 0 denominator means 1/100 s
      info.delaysMs.push((num * 1000) / den);
    }
  }
  return info;
}
