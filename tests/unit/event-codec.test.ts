import { describe, expect, it } from 'vitest';
import type { JobStepEvent, StudioEvent } from '../../src/api/contract.ts';
import { decodeEvent, encodeEvent } from '../../src/api/event-codec.ts';

function stepEvent(n: number): JobStepEvent {
  const x = new Float32Array(n * 2).map((_, i) => Math.sin(i) * 3);
  const x0Pred = new Float32Array(n * 2).map((_, i) => Math.cos(i));
  return { type: 'job-step', jobId: 'j_1', i: 3, steps: 20, sigma: 1.25, sigmaNext: 0.5, nfe: 7, x, x0Pred };
}

describe('event codec', () => {
  it('round-trips a step event with its typed arrays bit for bit', () => {
    const event = stepEvent(1000);
    const decoded = decodeEvent<JobStepEvent>(encodeEvent(event));
    expect(decoded.x).toBeInstanceOf(Float32Array);
    expect(decoded.x0Pred).toBeInstanceOf(Float32Array);
    expect(decoded).toEqual(event);
  });

  it('keeps the typed arrays out of the JSON header', () => {
    const frame = encodeEvent(stepEvent(1000));
    const headerLength = new DataView(frame.buffer).getUint32(4, true);
    expect(headerLength).toBeLessThan(300);
    // Two Float32 buffers of 2000 values and little else.
    expect(frame.byteLength).toBeLessThan(2 * 2000 * 4 + 400);
  });

  it('writes the buffers little-endian and 8-byte aligned', () => {
    const frame = encodeEvent({ a: new Float64Array([1.5]), b: new Uint16Array([0x0102]) });
    const headerLength = new DataView(frame.buffer).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(frame.subarray(8, 8 + headerLength)));
    const dataStart = Math.ceil((8 + headerLength) / 8) * 8;
    expect(header.b).toEqual([
      ['f64', 0, 1],
      ['u16', 8, 1],
    ]);
    expect(new DataView(frame.buffer).getFloat64(dataStart, true)).toBe(1.5);
    expect([frame[dataStart + 8], frame[dataStart + 9]]).toEqual([0x02, 0x01]);
  });

  it('decodes from an unaligned view (a pooled Node Buffer) and mixed nesting', () => {
    const sigmas = new Float64Array([80, 10, 1, 0]);
    const event: StudioEvent = {
      type: 'job-started',
      jobId: 'j_2',
      kind: 'sample-analytic',
      steps: 3,
      n: 4,
      dim: 2,
      sigmas,
      formulation: 'sigma',
      threadId: 5,
    };
    const frame = encodeEvent(event);
    const padded = new Uint8Array(frame.length + 3);
    padded.set(frame, 3);
    expect(decodeEvent(padded.subarray(3))).toEqual(event);
    const nested = { list: [new Int32Array([1, -2]), { deep: new Uint8Array([9]) }], plain: [1, 'a', null] };
    expect(decodeEvent(encodeEvent(nested))).toEqual(nested);
  });

  it('encodes events without arrays and empty arrays', () => {
    const event: StudioEvent = { type: 'job-error', jobId: 'j', error: { name: 'Error', message: 'boom' } };
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const empty = { x: new Float32Array(0), y: new Float32Array([1]) };
    expect(decodeEvent(encodeEvent(empty))).toEqual(empty);
  });

  it('rejects frames that are not event frames', () => {
    expect(() => decodeEvent(new Uint8Array([1, 2, 3]))).toThrow(/too short/);
    expect(() => decodeEvent(new Uint8Array(16))).toThrow(/bad magic/);
    const frame = encodeEvent(stepEvent(10));
    expect(() => decodeEvent(frame.subarray(0, frame.length - 4))).toThrow(/outside the frame/);
  });
});
