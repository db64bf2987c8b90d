/**
 * Differentiable ONNX ops for the Tape: each emits its forward node(s) and records its VJP in ONNX ops. Elementwise
 * binary ops broadcast like numpy; their gradients are summed back over the broadcast axes.
 *
 * Opset 17 details that matter: ReduceSum takes its axes as an input, ReduceMean and ReduceSumSquare as an attribute;
 * Pad takes pads as an input.
 */
import { broadcastShapes, numel, sameShape, type Tape, type Value } from './tape.ts';

// ---- shape plumbing -------------------------------------------------------------------------------------------

export function reshape(t: Tape, x: Value, shape: readonly number[]): Value {
  if (numel(shape) !== numel(x.shape)) throw new RangeError(`reshape ${x.shape} -> ${shape}`);
  if (sameShape(shape, x.shape)) return x;
  return t.op('Reshape', [x, t.ints(shape)], shape, {
    dtype: x.dtype,
    vjp: (g) => [reshape(t, g, x.shape), null],
  });
}

export function transpose(t: Tape, x: Value, perm: readonly number[]): Value {
  const shape = perm.map((p) => x.shape[p]);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return t.op('Transpose', [x], shape, {
    attrs: { perm: [...perm] },
    dtype: x.dtype,
    vjp: (g) => [transpose(t, g, inverse)],
  });
}

/** Sum over `axes` (kept as size 1 when keepdims). */
export function reduceSum(t: Tape, x: Value, axes: readonly number[], keepdims = false): Value {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  return t.op('ReduceSum', [x, t.ints(axes)], shape, {
    attrs: { keepdims: keepdims ? 1 : 0 },
    vjp: (g) => [expand(t, reshape(t, g, kept), x.shape), null],
  });
}

export function reduceMean(t: Tape, x: Value, axes: readonly number[], keepdims = false): Value {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  return t.op('ReduceMean', [x], shape, {
    attrs: { axes: [...axes], keepdims: keepdims ? 1 : 0 },
    vjp: (g) => [mul(t, expand(t, reshape(t, g, kept), x.shape), t.scalar(1 / count))],
  });
}

/** Sum of a gradient over the axes its input was broadcast along, back to the input's shape. */
export function unbroadcast(t: Tape, g: Value, shape: readonly number[]): Value {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    const target = i < lead ? 1 : shape[i - lead];
    if (target === 1 && d !== 1) axes.push(i);
  });
  return reshape(t, axes.length ? reduceSum(t, g, axes, true) : g, shape);
}

export function expand(t: Tape, x: Value, shape: readonly number[]): Value {
  if (sameShape(x.shape, shape)) return x;
  const out = broadcastShapes(x.shape, shape);
  return t.op('Expand', [x, t.ints(shape)], out, { dtype: x.dtype, vjp: (g) => [unbroadcast(t, g, x.shape), null] });
}

export function concat(t: Tape, xs: readonly Value[], axis: number): Value {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
  return t.op('Concat', xs, shape, {
    attrs: { axis },
    vjp: (g) => {
      let start = 0;
      return xs.map((x) => {
        const s = slice(t, g, axis, start, start + x.shape[axis]);
        start += x.shape[axis];
        return s;
      });
    },
  });
}

/** x[..., start:end, ...] along one axis. */
export function slice(t: Tape, x: Value, axis: number, start: number, end: number): Value {
  if (start === 0 && end === x.shape[axis]) return x;
  const shape = [...x.shape];
  shape[axis] = end - start;
  return t.op('Slice', [x, t.ints([start]), t.ints([end]), t.ints([axis])], shape, {
    dtype: x.dtype,
    vjp: (g) => {
      const pads = new Array(2 * x.shape.length).fill(0);
      pads[axis] = start;
      pads[x.shape.length + axis] = x.shape[axis] - end;
      return [t.op('Pad', [g, t.ints(pads)], x.shape), null, null, null];
    },
  });
}

// ---- elementwise ----------------------------------------------------------------------------------------------

function binary(t: Tape, op: string, a: Value, b: Value, vjp: (g: Value, y: Value) => [Value | null, Value | null]) {
  return t.op(op, [a, b], broadcastShapes(a.shape, b.shape), {
    vjp: (g, y) => {
      const [ga, gb] = vjp(g, y);
      return [ga && a.grad ? unbroadcast(t, ga, a.shape) : null, gb && b.grad ? unbroadcast(t, gb, b.shape) : null];
    },
  });
}

export const add = (t: Tape, a: Value, b: Value): Value => binary(t, 'Add', a, b, (g) => [g, g]);
export const sub = (t: Tape, a: Value, b: Value): Value =>
  binary(t, 'Sub', a, b, (g) => [g, b.grad ? neg(t, g) : null]);
export const mul = (t: Tape, a: Value, b: Value): Value =>
  binary(t, 'Mul', a, b, (g) => [a.grad ? mul(t, g, b) : null, b.grad ? mul(t, g, a) : null]);
export const div = (t: Tape, a: Value, b: Value): Value =>
  binary(t, 'Div', a, b, (g, y) => [a.grad ? div(t, g, b) : null, b.grad ? neg(t, div(t, mul(t, g, y), b)) : null]);

export function neg(t: Tape, x: Value): Value {
  return t.op('Neg', [x], x.shape, { vjp: (g) => [neg(t, g)] });
}

export function exp(t: Tape, x: Value): Value {
  return t.op('Exp', [x], x.shape, { vjp: (g, y) => [mul(t, g, y)] });
}

export function log(t: Tape, x: Value): Value {
  return t.op('Log', [x], x.shape, { vjp: (g) => [div(t, g, x)] });
}

export function sqrt(t: Tape, x: Value): Value {
  return t.op('Sqrt', [x], x.shape, { vjp: (g, y) => [div(t, mul(t, g, t.scalar(0.5)), y)] });
}

export function square(t: Tape, x: Value): Value {
  return t.op('Mul', [x, x], x.shape, { vjp: (g) => [mul(t, g, mul(t, x, t.scalar(2))), null] });
}

export function tanh(t: Tape, x: Value): Value {
  return t.op('Tanh', [x], x.shape, { vjp: (g, y) => [mul(t, g, sub(t, t.scalar(1), square(t, y)))] });
}

export function sigmoid(t: Tape, x: Value): Value {
  return t.op('Sigmoid', [x], x.shape, { vjp: (g, y) => [mul(t, g, mul(t, y, sub(t, t.scalar(1), y)))] });
}

/** y = x * sigmoid(x); d/dx = s + y (1 - s) (four elementwise ops in the backward pass). */
export function silu(t: Tape, x: Value): Value {
  const s = t.op('Sigmoid', [x], x.shape);
  return t.op('Mul', [x, s], x.shape, {
    vjp: (g, y) => [mul(t, g, add(t, s, mul(t, y, sub(t, t.scalar(1), s)))), null],
  });
}

/** max(x, c) for a constant c; the gradient passes where x >= c (tfjs's and PyTorch's convention). */
export function maximum(t: Tape, x: Value, c: number): Value {
  const cv = t.scalar(c);
  return t.op('Max', [x, cv], x.shape, {
    vjp: (g) => {
      const pass = t.op('Cast', [t.op('GreaterOrEqual', [x, cv], x.shape, { dtype: 'bool' })], x.shape, {
        attrs: { to: 1 },
      });
      return [mul(t, g, pass), null];
    },
  });
}

/** Elementwise select; cond carries no gradient. */
export function where(t: Tape, cond: Value, a: Value, b: Value): Value {
  const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape));
  return t.op('Where', [cond, a, b], shape, {
    vjp: (g) => {
      const zero = t.scalar(0);
      const ga = a.grad ? unbroadcast(t, t.op('Where', [cond, g, zero], shape), a.shape) : null;
      const gb = b.grad ? unbroadcast(t, t.op('Where', [cond, zero, g], shape), b.shape) : null;
      return [null, ga, gb];
    },
  });
}

export function less(t: Tape, a: Value, b: Value): Value {
  return t.op('Less', [a, b], broadcastShapes(a.shape, b.shape), { dtype: 'bool' });
}

export function greater(t: Tape, a: Value, b: Value): Value {
  return t.op('Greater', [a, b], broadcastShapes(a.shape, b.shape), { dtype: 'bool' });
}

/**
 * GroupNorm's normalization (no affine) of x [B, ...] with `groups` groups over the non-batch axes in order (for
 * NCHW: channels first, so a group is C / groups whole channels). Closed-form VJP:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)) per group, instead of differentiating mean, variance and sqrt.
 */
export function groupNormalize(t: Tape, x: Value, groups: number, eps: number): Value {
  const B = x.shape[0];
  const m = numel(x.shape) / B / groups;
  const gShape = [B, groups, m];
  let xhatG: Value | null = null;
  let rstd: Value | null = null;
  return t.composite(
    [x],
    () => {
      // One fused kernel: LayerNormalization over the last axis of [B, G, M] is the group statistics, and it also
      // returns 1 / sqrt(var + eps) for the backward pass.
      const grouped = reshape(t, x, gShape);
      const ones = t.floats([m], new Float32Array(m).fill(1));
      const [y, , invStd] = t.opN('LayerNormalization', [grouped, ones], [gShape, [B, groups, 1], [B, groups, 1]], {
        axis: -1,
        epsilon: { float: eps },
      });
      xhatG = y;
      rstd = invStd;
      return reshape(t, y, x.shape);
    },
    (g) => {
      const gg = reshape(t, g, gShape);
      const m1 = reduceMean(t, gg, [2], true);
      const m2 = reduceMean(t, mul(t, gg, xhatG!), [2], true);
      const dx = mul(t, sub(t, sub(t, gg, m1), mul(t, xhatG!, m2)), rstd!);
      return [reshape(t, dx, x.shape)];
    },
  );
}

// ---- linear algebra -------------------------------------------------------------------------------------------

/** a @ b over the last two axes; leading axes must be equal (no batch broadcasting). */
export function matmul(t: Tape, a: Value, b: Value): Value {
  const r = a.shape.length;
  if (r < 2 || b.shape.length !== r || !sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2))) {
    throw new RangeError(`matmul ${a.shape} @ ${b.shape}: equal ranks >= 2 and equal batch axes needed`);
  }
  if (a.shape[r - 1] !== b.shape[r - 2]) throw new RangeError(`matmul ${a.shape} @ ${b.shape}: inner sizes differ`);
  const shape = [...a.shape.slice(0, -1), b.shape[r - 1]];
  const swap = [...Array(r - 2).keys(), r - 1, r - 2];
  return t.op('MatMul', [a, b], shape, {
    vjp: (g) => [
      a.grad ? matmul(t, g, transpose(t, b, swap)) : null,
      b.grad ? matmul(t, transpose(t, a, swap), g) : null,
    ],
  });
}

/** Softmax over the last axis: dx = y (g - sum(g y)). */
export function softmax(t: Tape, x: Value): Value {
  const last = x.shape.length - 1;
  return t.op('Softmax', [x], x.shape, {
    attrs: { axis: -1 },
    vjp: (g, y) => [mul(t, y, sub(t, g, reduceSum(t, mul(t, g, y), [last], true)))],
  });
}

/** Rows of table [R, D] picked by int64 indices [B] -> [B, D]. The table's gradient is onehot^T @ g. */
export function gatherRows(t: Tape, table: Value, indices: Value): Value {
  const [rows, dim] = table.shape;
  const [n] = indices.shape;
  return t.op('Gather', [table, indices], [n, dim], {
    attrs: { axis: 0 },
    vjp: (g) => {
      const range = t.ints(
        Array.from({ length: rows }, (_, i) => i),
        [1, rows],
      );
      const hit = t.op('Equal', [reshape(t, indices, [n, 1]), range], [n, rows], { dtype: 'bool' });
      const onehot = t.op('Cast', [hit], [n, rows], { attrs: { to: 1 } });
      return [matmul(t, transpose(t, onehot, [1, 0]), g), null];
    },
  });
}
