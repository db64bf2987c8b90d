/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0; https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html),
 * pure: bytes in, bytes out, no node imports. Little-endian, C order, four dtypes.
 *
 * Layout: magic "\x93NUMPY", major and minor version bytes, header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0),
 * an ASCII (3.0: UTF-8) Python dict literal padded with spaces and a final '\n' so the data starts on a multiple of
 * 64 bytes, then the raw values. We write exactly what numpy (>= 1.24) writes, byte for byte, including the spare
 * spaces numpy leaves after the dict so the first axis can grow in place.
 */

export type NpyDtype = '<f4' | '<f8' | '<i4' | '|u1';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
/** numpy pads the header so that a first axis of up to 21 digits fits when the file grows (numpy.lib.format). */
const GROWTH_AXIS_MAX_DIGITS = 21;

const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '|u1': 1 };

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverse the bytes of every item in place (only on big-endian hosts, to convert from/to little-endian). */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

function dtypeOf(data: NpyArray['data']): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '|u1';
  throw new TypeError('npy: data must be a Float32Array, Float64Array, Int32Array or Uint8Array');
}

function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encode a C-order little-endian .npy file (version 1.0, or 2.0 if the header would not fit in 65535 bytes). */
export function encodeNpy(
  data: Float32Array | Float64Array | Int32Array | Uint8Array,
  shape: readonly number[],
): Uint8Array {
  const dtype = dtypeOf(data);
  let count = 1;
  for (const n of shape) {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(`npy: shape ${shapeRepr(shape)} has an invalid dimension ${n}`);
    count *= n;
  }
  if (count !== data.length) {
    throw new RangeError(`npy: shape ${shapeRepr(shape)} holds ${count} values but the data has ${data.length}`);
  }
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const hlen = header.length + 1; // + '\n'
  let version = 1;
  let prefix = MAGIC.length + 2 + 2;
  let padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  if (hlen + padlen > 0xffff) {
    version = 2;
    prefix = MAGIC.length + 2 + 4;
    padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  }
  const headerTotal = hlen + padlen;
  const out = new Uint8Array(prefix + headerTotal + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerTotal, true);
  else view.setUint32(8, headerTotal, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.fill(0x20, prefix + header.length, prefix + headerTotal - 1);
  out[prefix + headerTotal - 1] = 0x0a;
  const body = out.subarray(prefix + headerTotal);
  body.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (!HOST_LITTLE_ENDIAN) swapBytes(body, ITEM_SIZE[dtype]);
  return out;
}

// ---- header parsing: the subset of Python literals numpy writes (dict, str, tuple, int, True/False) ----

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

class HeaderParser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new Error(`npy: malformed header (${what} at offset ${this.i}): ${JSON.stringify(this.s.trimEnd())}`);
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  parseTop(): PyValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected text after the dict');
    return v;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    if (c !== undefined && /[-0-9]/.test(c)) return this.int();
    const word = /^[A-Za-z_]+/.exec(this.s.slice(this.i))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.i += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  private string(): string {
    const q = this.s[this.i++];
    const end = this.s.indexOf(q, this.i);
    if (end < 0) this.fail('unterminated string');
    const v = this.s.slice(this.i, end);
    if (v.includes('\\')) this.fail('escapes in strings are not supported');
    this.i = end + 1;
    return v;
  }

  private int(): number {
    const m = /^-?[0-9]+L?/.exec(this.s.slice(this.i)); // Python 2 numpy wrote longs as 3L
    if (!m) return this.fail('bad number');
    this.i += m[0].length;
    const v = Number(m[0].replace('L', ''));
    if (!Number.isSafeInteger(v)) this.fail(`integer ${m[0]} out of range`);
    return v;
  }

  private sequence(close: ')' | ']'): PyValue[] {
    this.i++;
    const items: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return items;
      }
      items.push(this.value());
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) this.fail(`expected ',' or '${close}'`);
    }
  }

  private dict(): { [key: string]: PyValue } {
    this.i++;
    const d: { [key: string]: PyValue } = {};
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return d;
      }
      const c = this.s[this.i];
      if (c !== "'" && c !== '"') this.fail('expected a string key');
      const key = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') this.fail("expected ':'");
      d[key] = this.value();
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') this.fail("expected ',' or '}'");
    }
  }
}

const SUPPORTED = "'<f4', '<f8', '<i4', '|u1'";

function parseDtype(descr: PyValue): NpyDtype {
  if (typeof descr !== 'string')
    throw new Error(
      `npy: unsupported dtype ${JSON.stringify(descr)} (structured dtypes are not supported; supported: ${SUPPORTED})`,
    );
  if (descr === '<f4' || descr === '<f8' || descr === '<i4' || descr === '|u1') return descr;
  if (descr === '<u1' || descr === '>u1' || descr === 'u1') return '|u1'; // byte order is meaningless for one byte
  if (descr.startsWith('>') && ['f4', 'f8', 'i4'].includes(descr.slice(1))) {
    throw new Error(
      `npy: big-endian dtype '${descr}' is not supported; convert with arr.astype('${'<' + descr.slice(1)}')`,
    );
  }
  throw new Error(`npy: unsupported dtype '${descr}' (supported: ${SUPPORTED})`);
}

/** Decode a .npy file (versions 1.0, 2.0, 3.0). The returned data is a fresh, aligned copy. */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error('npy: not a .npy file (bad magic; expected "\\x93NUMPY")');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new Error(`npy: unsupported format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) throw new Error('npy: truncated file (header length missing)');
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (bytes.length < prefix + hlen) {
    throw new Error(
      `npy: truncated header: header length is ${hlen} bytes but the file has ${bytes.length - prefix} after the preamble`,
    );
  }
  const raw = bytes.subarray(prefix, prefix + hlen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new Error('npy: malformed header (invalid UTF-8)');
    }
  } else {
    text = '';
    for (let i = 0; i < raw.length; i++) text += String.fromCharCode(raw[i]); // latin-1
  }
  const d = new HeaderParser(text).parseTop();
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new Error('npy: malformed header (not a dict)');
  const keys = Object.keys(d).sort().join(',');
  if (keys !== 'descr,fortran_order,shape') {
    throw new Error(`npy: malformed header: keys are {${keys}}, expected {descr, fortran_order, shape}`);
  }
  if (typeof d.fortran_order !== 'boolean') throw new Error('npy: malformed header: fortran_order is not True/False');
  if (d.fortran_order) {
    throw new Error(
      'npy: fortran_order True (column-major) is not supported; save a C-order array (np.ascontiguousarray)',
    );
  }
  const shapeValue = d.shape;
  if (
    !Array.isArray(shapeValue) ||
    !shapeValue.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)
  ) {
    throw new Error(
      `npy: malformed header: shape ${JSON.stringify(shapeValue)} is not a tuple of non-negative integers`,
    );
  }
  const shape = shapeValue as number[];
  const dtype = parseDtype(d.descr);
  const count = shape.reduce((a, b) => a * b, 1);
  const itemSize = ITEM_SIZE[dtype];
  const offset = prefix + hlen;
  const nbytes = count * itemSize;
  if (bytes.length - offset < nbytes) {
    throw new Error(
      `npy: truncated data: shape (${shape.join(', ')}) of ${dtype} needs ${nbytes} bytes, file has ${bytes.length - offset}`,
    );
  }
  // Copy into a new buffer at offset 0: aligned for any element type, and not aliasing the input. (Not slice():
  // node's Buffer.slice returns a view into its shared pool.)
  const body = new Uint8Array(nbytes);
  body.set(bytes.subarray(offset, offset + nbytes));
  if (!HOST_LITTLE_ENDIAN) swapBytes(body, itemSize);
  const data =
    dtype === '<f4'
      ? new Float32Array(body.buffer)
      : dtype === '<f8'
        ? new Float64Array(body.buffer)
        : dtype === '<i4'
          ? new Int32Array(body.buffer)
          : body;
  return { dtype, shape, data };
}
