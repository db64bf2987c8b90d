/**
 * Binary framing of events for the WebSocket transport: typed arrays travel as raw little-endian bytes, never as
 * JSON number arrays (a 2,000-point step would be ~90 kB of text and a parse on every frame).
 *
 * Frame layout (all integers little-endian):
 *   u32 magic 'DSE1' | u32 header length H | H bytes of UTF-8 JSON header | zero padding to a multiple of 8 |
 *   buffer 0 | padding to 8 | buffer 1 | ...
 * The header is { e: <the value, each typed array replaced by {"$b": index}>, b: [[kind, offset, length], ...] }
 * with byte offsets from the start of the data section (the first 8-byte boundary after the header). Every buffer
 * starts 8-byte aligned, so the decoder returns views over the received ArrayBuffer without copying.
 */

const MAGIC = 0x31455344; // 'DSE1' read as a little-endian u32

const KINDS = {
  f32: Float32Array,
  f64: Float64Array,
  i8: Int8Array,
  u8: Uint8Array,
  u8c: Uint8ClampedArray,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
} as const;

type Kind = keyof typeof KINDS;
type AnyTypedArray = InstanceType<(typeof KINDS)[Kind]>;
type BufferEntry = [kind: Kind, offset: number, length: number];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function kindOf(v: ArrayBufferView): Kind | undefined {
  for (const k of Object.keys(KINDS) as Kind[]) if (v.constructor === KINDS[k]) return k;
  return undefined;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes of a typed array in little-endian order (a copy with swapped bytes only on big-endian hosts). */
function littleEndianBytes(a: AnyTypedArray): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  const w = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j];
  return out;
}

export function encodeEvent(value: unknown): Uint8Array {
  const arrays: AnyTypedArray[] = [];
  const entries: BufferEntry[] = [];
  const replace = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) {
      const kind = kindOf(v);
      if (!kind) throw new TypeError(`cannot encode a ${v.constructor.name}`);
      arrays.push(v as AnyTypedArray);
      return { $b: arrays.length - 1 };
    }
    if (Array.isArray(v)) return v.map(replace);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = replace(item);
      return out;
    }
    return v;
  };
  const shape = replace(value);

  // Offsets count from the start of the data section, so the header does not depend on its own length.
  let offset = 0;
  for (const a of arrays) {
    entries.push([kindOf(a)!, offset, a.length]);
    offset = align8(offset + a.byteLength);
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify({ e: shape, b: entries }));
  const dataStart = align8(8 + headerBytes.length);
  const last = entries[entries.length - 1];
  const total = last ? dataStart + last[1] + arrays[arrays.length - 1].byteLength : 8 + headerBytes.length;
  const frame = new Uint8Array(total);
  const view = new DataView(frame.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, headerBytes.length, true);
  frame.set(headerBytes, 8);
  arrays.forEach((a, i) => frame.set(littleEndianBytes(a), dataStart + entries[i][1]));
  return frame;
}

export function decodeEvent<T = unknown>(data: ArrayBuffer | ArrayBufferView): T {
  let bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  // Node hands out Buffers at arbitrary offsets of a shared pool; views need 8-byte alignment, so copy once.
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
  if (bytes.length < 8) throw new RangeError(`event frame of ${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new RangeError('not an event frame (bad magic)');
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > bytes.length) throw new RangeError('event frame header runs past the end');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as {
    e: unknown;
    b: BufferEntry[];
  };
  const dataStart = align8(8 + headerLength);
  const arrays = header.b.map(([kind, relative, length]) => {
    const offset = dataStart + relative;
    const Ctor = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
    if (!Ctor) throw new RangeError(`unknown buffer kind "${kind}"`);
    const byteLength = length * Ctor.BYTES_PER_ELEMENT;
    if (!(relative >= 0) || relative % 8 !== 0 || offset + byteLength > bytes.length) {
      throw new RangeError('event frame buffer lies outside the frame');
    }
    if (LITTLE_ENDIAN) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset + offset, length);
    const out = new Ctor(length);
    const raw = new DataView(bytes.buffer, bytes.byteOffset + offset, byteLength);
    const get = `get${Ctor.name.replace('Array', '').replace('Clamped', '')}` as 'getFloat32';
    for (let i = 0; i < length; i++) out[i] = raw[get](i * Ctor.BYTES_PER_ELEMENT, true);
    return out;
  });
  const restore = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(restore);
    if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$b' && typeof (v as { $b: unknown }).$b === 'number') {
        const a = arrays[(v as { $b: number }).$b];
        if (!a) throw new RangeError('event frame refers to a missing buffer');
        return a;
      }
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = restore(item);
      return out;
    }
    return v;
  };
  return restore(header.e) as T;
}
