/**
 * The safetensors format (https://github.com/huggingface/safetensors), pure: bytes in, bytes out, no node imports.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header, then the data buffer. The header maps
 * each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the buffer's start) and may
 * hold "__metadata__", a string-to-string map. Values are little-endian, C order.
 *
 * Writing follows the reference implementation: compact JSON with "__metadata__" first, padded with spaces to a
 * multiple of 8 bytes, tensors packed contiguously in order of decreasing element size (stable, so tensors of one
 * dtype keep the caller's order). With an 8-aligned header that puts every tensor on a multiple of its element size
 * in the file, so mmap-based readers can view it in place.
 *
 * Reading is strict, because checkpoints come from disk and disks lie: every number in the header is checked before
 * it is used, the tensors must tile the buffer exactly (no gap, no overlap, nothing after the last one), and each
 * error names the tensor and the problem.
 */

/** Bytes per element of every byte-sized dtype the format defines. */
const DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZE;
/** The dtypes JS has a typed array for; the only ones we write. */
export type EncodableDtype = 'F32' | 'F64' | 'I32' | 'U8';
export type TensorArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface EncodableTensor {
  dtype: EncodableDtype;
  shape: readonly number[];
  data: TensorArray;
}

export interface DecodedTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** A fresh, aligned copy. F32/F64/I32/U8 as their typed arrays; any other dtype as its raw little-endian bytes. */
  data: TensorArray;
}

export interface DecodedSafetensors {
  tensors: Record<string, DecodedTensor>;
  metadata: Record<string, string>;
  /** Where the data buffer starts in the file (8 + N), e.g. to checksum the payload. */
  dataOffset: number;
}

/** The reference implementation refuses headers over 100 MB; so do we (a corrupt length must not allocate GBs). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A malformed file or an invalid tensor; `tensor` names the tensor when one is at fault. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    message: string,
    readonly tensor?: string,
  ) {
    super(tensor === undefined ? `safetensors: ${message}` : `safetensors: tensor '${tensor}': ${message}`);
  }
}

const ENCODABLE: Record<EncodableDtype, new (buffer: ArrayBuffer) => TensorArray> = {
  F32: Float32Array,
  F64: Float64Array,
  I32: Int32Array,
  U8: Uint8Array,
};

function encodableCtor(dtype: string): (new (buffer: ArrayBuffer) => TensorArray) | undefined {
  return Object.hasOwn(ENCODABLE, dtype) ? ENCODABLE[dtype as EncodableDtype] : undefined;
}

/** Reverses the bytes of every element in place: little-endian <-> host order on big-endian hosts. */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (HOST_LITTLE_ENDIAN || itemSize === 1) return;
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZE, value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Number of elements, or undefined when it overflows a safe integer (a hostile header). */
function elementCount(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Serializes tensors and optional metadata. `metadata` may be a function of the finished data buffer, so that a
 * checksum of the payload can go into the header that precedes it.
 */
export function encodeSafetensors(
  tensors: Record<string, EncodableTensor>,
  metadata?: Record<string, string> | ((payload: Uint8Array) => Record<string, string>),
): Uint8Array {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '' || name === METADATA_KEY) throw new SafetensorsError('this name is reserved or empty', name);
    const ctor = encodableCtor(t.dtype);
    if (ctor === undefined) throw new SafetensorsError(`cannot write dtype ${String(t.dtype)}`, name);
    if (!(t.data instanceof ctor)) {
      throw new SafetensorsError(`dtype ${t.dtype} needs a ${ctor.name}, got a ${t.data?.constructor?.name}`, name);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) {
      throw new SafetensorsError(`shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`, name);
    }
    if (elementCount(t.shape) !== t.data.length) {
      throw new SafetensorsError(`shape ${shapeText(t.shape)} does not match ${t.data.length} values`, name);
    }
  }
  // Stable: ties keep the caller's order.
  entries.sort(([, a], [, b]) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype]);

  const total = entries.reduce((sum, [, t]) => sum + t.data.byteLength, 0);
  const payload = new Uint8Array(total);
  const infos: string[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    payload.set(bytes, offset);
    swapBytes(payload.subarray(offset, offset + bytes.length), DTYPE_SIZE[t.dtype]);
    const info = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    infos.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += bytes.length;
  }

  const meta = typeof metadata === 'function' ? metadata(payload) : metadata;
  if (meta !== undefined && Object.keys(meta).length > 0) {
    for (const [key, value] of Object.entries(meta)) {
      if (typeof value !== 'string')
        throw new SafetensorsError(`metadata '${key}' must be a string, got ${typeof value}`);
    }
    infos.unshift(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  }
  const json = new TextEncoder().encode(`{${infos.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) throw new SafetensorsError(`header of ${headerLength} bytes is too large`);

  const out = new Uint8Array(8 + headerLength + total);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // pad with spaces, as the reference does
  out.set(payload, 8 + headerLength);
  return out;
}

interface Span {
  name: string;
  begin: number;
  end: number;
}

/** Parses and fully validates a safetensors file. Throws SafetensorsError naming the first problem found. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (bytes.length < 8) throw new SafetensorsError(`file of ${bytes.length} bytes is too short for the header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 2n) throw new SafetensorsError(`header length ${n} is too small for a JSON object`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerLength = Number(n);
  if (8 + headerLength > bytes.length) {
    throw new SafetensorsError(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  }
  const dataOffset = 8 + headerLength;
  const dataLength = bytes.length - dataOffset;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataOffset));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError(`header does not start with '{'`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header is not a JSON object');
  }

  const metadata: [string, string][] = [];
  const spans: Span[] = [];
  const infos: [string, SafetensorsDtype, number[], Span][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (info === null) continue;
      if (typeof info !== 'object' || Array.isArray(info)) throw new SafetensorsError('__metadata__ is not an object');
      for (const [key, value] of Object.entries(info as Record<string, unknown>)) {
        if (typeof value !== 'string') throw new SafetensorsError(`__metadata__ '${key}' is not a string`);
        metadata.push([key, value]);
      }
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      throw new SafetensorsError('entry is not an object', name);
    }
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype)) throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}`, name);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new SafetensorsError(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`, name);
    }
    const [begin, end] = offsets as [number, number];
    const count = elementCount(shape);
    const expected = count === undefined ? undefined : count * DTYPE_SIZE[dtype];
    if (expected === undefined || expected !== end - begin) {
      throw new SafetensorsError(
        `shape ${shapeText(shape)} of ${dtype} needs ${expected ?? 'too many'} bytes but data_offsets ` +
          `[${begin}, ${end}] span ${end - begin}`,
        name,
      );
    }
    if (end > dataLength) {
      throw new SafetensorsError(`data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data buffer`, name);
    }
    const span = { name, begin, end };
    spans.push(span);
    infos.push([name, dtype, shape, span]);
  }

  // The tensors must tile [0, dataLength) exactly. Ties (empty tensors) sort by end so they never look overlapping.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Span | undefined;
  for (const s of spans) {
    if (s.begin < covered) {
      throw new SafetensorsError(`data_offsets [${s.begin}, ${s.end}] overlap tensor '${previous!.name}'`, s.name);
    }
    if (s.begin > covered) {
      throw new SafetensorsError(`bytes ${covered}..${s.begin} before it belong to no tensor`, s.name);
    }
    covered = s.end;
    previous = s;
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(`${dataLength - covered} bytes of trailing data after the last tensor`);
  }

  const tensors: [string, DecodedTensor][] = [];
  for (const [name, dtype, shape, { begin, end }] of infos) {
    // A fresh buffer, aligned for any typed array (not bytes.slice: on a node Buffer that is a view).
    const raw = new Uint8Array(bytes.subarray(dataOffset + begin, dataOffset + end));
    const ctor = encodableCtor(dtype);
    if (ctor !== undefined) swapBytes(raw, DTYPE_SIZE[dtype]);
    tensors.push([name, { dtype, shape, data: ctor === undefined ? raw : new ctor(raw.buffer) }]);
  }
  // fromEntries defines own properties, so a name like '__proto__' stays a plain key.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata), dataOffset };
}
