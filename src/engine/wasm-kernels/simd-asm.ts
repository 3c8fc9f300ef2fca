// A minimal WebAssembly encoder: enough to emit a few f32x4 (SIMD128) loops that work straight
// on the tfjs-backend-wasm heap (its Memory is imported). No toolchain is needed at build time.

const I32 = 0x7f;
export type ValType = typeof I32;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Emits one function body. Locals are i32 or v128, numbered after the i32 params. */
export class Fn {
  readonly code: number[] = [];
  private locals: number[] = [];
  constructor(readonly name: string, readonly nParams: number) {}

  private local(type: number): number {
    this.locals.push(type);
    return this.nParams + this.locals.length - 1;
  }
  i32(): number { return this.local(I32); }
  v128(): number { return this.local(0x7b); }

  private op(...bytes: number[]): this { this.code.push(...bytes); return this; }
  private simd(op: number, ...imm: number[]): this { return this.op(0xfd, ...uleb(op), ...imm); }

  get(i: number): this { return this.op(0x20, ...uleb(i)); }
  set(i: number): this { return this.op(0x21, ...uleb(i)); }
  const(n: number): this { return this.op(0x41, ...sleb(n)); }
  add(): this { return this.op(0x6a); }
  sub(): this { return this.op(0x6b); }
  mul(): this { return this.op(0x6c); }
  geS(): this { return this.op(0x4e); }
  eqz(): this { return this.op(0x45); }
  /** local[i] += n */
  inc(i: number, n: number | (() => void)): this {
    this.get(i);
    if (typeof n === 'number') this.const(n); else n();
    return this.add().set(i);
  }

  /** `for (;;) { if (cond) break; body; }` with cond leaving an i32 on the stack. */
  loop(cond: () => void, body: () => void): this {
    this.op(0x02, 0x40, 0x03, 0x40); // block, loop
    cond();
    this.op(0x0d, 0x01); // br_if to the block's end
    body();
    this.op(0x0c, 0x00, 0x0b, 0x0b); // br to loop start; end loop; end block
    return this;
  }

  // f32x4 operations; memory operands are byte addresses on the stack.
  load(offset = 0): this { return this.simd(0x00, 0x02, ...uleb(offset)); }
  store(offset = 0): this { return this.simd(0x0b, 0x02, ...uleb(offset)); }
  fadd(): this { return this.simd(0xe4); }
  fsub(): this { return this.simd(0xe5); }
  fmul(): this { return this.simd(0xe6); }
  fmax(): this { return this.simd(0xe9); }
  fmin(): this { return this.simd(0xe8); }
  fsplat(): this { return this.simd(0x13); }
  /** All-zero v128. */
  zero(): this { return this.const(0).simd(0x11); }
  /** Lane mask of a > b. */
  fgt(): this { return this.simd(0x44); }
  /** f32 lanes of [a, b] (a = 0..3, b = 4..7) picked by `lanes`. */
  shuffle(lanes: [number, number, number, number]): this {
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }
  /** (a & mask) | (b & ~mask) for stack [a, b, mask]. */
  bitselect(): this { return this.simd(0x52); }
  f32load(offset = 0): this { return this.op(0x2a, 0x02, ...uleb(offset)); }

  encode(): number[] {
    const groups: number[][] = this.locals.map((t) => [1, t]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** Compiles functions (all i32 params, no results) into a module that imports `memory`. */
export function compile(memory: WebAssembly.Memory, fns: Fn[]): Record<string, (...args: number[]) => void> {
  const sigs = [...new Set(fns.map((f) => f.nParams))];
  const types = sigs.map((n) => [0x60, ...uleb(n), ...new Array<number>(n).fill(I32), 0x00]);
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])), // memory, min 1 page, no max
    ...section(3, vec(fns.map((f) => uleb(sigs.indexOf(f.nParams))))),
    ...section(7, vec(fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((f) => f.encode()))),
  ];
  const mod = new WebAssembly.Module(new Uint8Array(bytes));
  const inst = new WebAssembly.Instance(mod, { env: { memory } });
  return inst.exports as unknown as Record<string, (...args: number[]) => void>;
}
