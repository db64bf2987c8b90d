/**
 * PNG tEXt chunks: provenance (run, checkpoint, sampler grid, seed, software) written into a PNG that sharp encoded,
 * and read back. Only the chunk container is touched (length, type, data, CRC-32); the image data is left as is.
 *
 * tEXt holds Latin-1 text: keywords are 1..79 printable Latin-1 characters, values any Latin-1 text. Callers with
 * JSON values escape non-Latin-1 characters first (see latin1Json).
 */
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngChunk {
  type: string;
  /** Offset of the chunk's length field. */
  start: number;
  /** Offset just past its CRC. */
  end: number;
  data: Buffer;
}

export function* pngChunks(png: Buffer): Generator<PngChunk> {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('png: not a PNG file');
  let at = 8;
  while (at < png.length) {
    if (at + 12 > png.length) throw new Error(`png: truncated chunk at byte ${at}`);
    const length = png.readUInt32BE(at);
    const end = at + 12 + length;
    if (end > png.length) throw new Error(`png: truncated chunk at byte ${at}`);
    const type = png.toString('latin1', at + 4, at + 8);
    const crc = png.readUInt32BE(end - 4);
    if (crc32(png.subarray(at + 4, end - 4)) !== crc) throw new Error(`png: bad CRC in ${type} chunk at byte ${at}`);
    yield { type, start: at, end, data: png.subarray(at + 8, end - 4) };
    if (type === 'IEND') return;
    at = end;
  }
  throw new Error('png: no IEND chunk');
}

function checkLatin1(what: string, s: string): void {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) throw new RangeError(`png tEXt: ${what} has a non-Latin-1 character`);
  }
}

function textChunk(keyword: string, value: string): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || /^ | $| {2}/.test(keyword)) {
    throw new RangeError(`png tEXt: invalid keyword "${keyword}" (1..79 Latin-1 characters, no edge or double spaces)`);
  }
  checkLatin1(`the value of "${keyword}"`, value);
  const body = Buffer.concat([
    Buffer.from('tEXt', 'latin1'),
    Buffer.from(keyword, 'latin1'),
    Buffer.of(0),
    Buffer.from(value, 'latin1'),
  ]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(body.length - 4, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), out.length - 4);
  return out;
}

/** A copy of `png` with one tEXt chunk per entry, placed before the first IDAT (readers that stop early see them). */
export function addPngText(png: Uint8Array, entries: Record<string, string>): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const idat = [...pngChunks(buf)].find((c) => c.type === 'IDAT');
  if (!idat) throw new Error('png: no IDAT chunk');
  const text = Object.entries(entries).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([buf.subarray(0, idat.start), ...text, buf.subarray(idat.start)]);
}

/** Every tEXt chunk of a PNG as keyword -> value (a repeated keyword keeps its last value). Checks every CRC. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (const c of pngChunks(buf)) {
    if (c.type !== 'tEXt') continue;
    const nul = c.data.indexOf(0);
    if (nul < 1) throw new Error('png: tEXt chunk without a keyword');
    out[c.data.toString('latin1', 0, nul)] = c.data.toString('latin1', nul + 1);
  }
  return out;
}

/** JSON with every character above U+00FF escaped as \uXXXX, so it fits a tEXt chunk and parses back the same. */
export function latin1Json(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0100-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
