// Allocation counters for the QuickJS WebAssembly module (quickjs-emscripten's RELEASE_SYNC build).
//
// QuickJS's own `malloc_count` (rt.computeMemoryUsage()) is the number of blocks *alive*: it rises on
// malloc and falls on free, so over a steady-state loop its delta is ~0 however much garbage each
// message makes. To count allocations *made*, the wasm is patched before it is instantiated: a mutable
// i32 global counts calls of the exported `malloc` (every JS_malloc of QuickJS ends there: js_def_malloc
// calls it, and a js_realloc of NULL goes through js_def_malloc), another adds up the bytes asked for,
// a third counts calls of `free`. The globals are exported; reading them allocates nothing.
// (realloc is not exported and not patched: a realloc that grows in place is not counted; one that moves
// calls malloc inside dlmalloc and is.)
//
//   const { module, malloc, free } = allocCountingWasm();   // compile once, instantiate per emulation
//   ... instance.exports[ALLOC_EXPORTS.mallocs].value
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const ALLOC_EXPORTS = { mallocs: "__mcu_mallocs", mallocBytes: "__mcu_malloc_bytes", frees: "__mcu_frees" } as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do { let b = n & 127; n >>>= 7; if (n) b |= 128; out.push(b); } while (n);
  return out;
}

class Reader {
  constructor(public b: Uint8Array, public p = 0) {}
  u8() { return this.b[this.p++]; }
  uleb() { let r = 0, s = 0, x: number; do { x = this.b[this.p++]; r += (x & 127) * 2 ** s; s += 7; } while (x & 128); return r; }
  name() { const n = this.uleb(); const s = Buffer.from(this.b.subarray(this.p, this.p + n)).toString("utf8"); this.p += n; return s; }
  limits() { const f = this.u8(); this.uleb(); if (f & 1) this.uleb(); }
}

/** Patch `wasm` so that its exported functions `mallocExport`/`freeExport` count their calls. */
export function patchAllocCounters(wasm: Uint8Array, mallocExport: string, freeExport: string): Uint8Array {
  const r = new Reader(wasm, 8);
  const sections: { id: number; body: Uint8Array }[] = [];
  while (r.p < wasm.length) {
    const id = r.u8(), size = r.uleb();
    sections.push({ id, body: wasm.subarray(r.p, r.p + size) });
    r.p += size;
  }
  const sec = (id: number) => {
    const s = sections.find((x) => x.id === id);
    if (!s) throw new Error(`wasm-alloc: the module has no section ${id}`);
    return s;
  };

  // imported functions and globals come first in their index spaces
  let importedFuncs = 0, importedGlobals = 0;
  const imp = sections.find((x) => x.id === 2);
  if (imp) {
    const ir = new Reader(imp.body);
    for (let n = ir.uleb(); n--;) {
      ir.name(); ir.name();
      const kind = ir.u8();
      if (kind === 0) { ir.uleb(); importedFuncs++; }
      else if (kind === 1) { ir.u8(); ir.limits(); }
      else if (kind === 2) ir.limits();
      else if (kind === 3) { ir.u8(); ir.u8(); importedGlobals++; }
      else throw new Error("wasm-alloc: unknown import kind " + kind);
    }
  }

  const ex = sec(7), er = new Reader(ex.body), exportCount = er.uleb(), exportsAt = er.p;
  const funcOf: Record<string, number> = {};
  for (let n = exportCount; n--;) { const nm = er.name(), kind = er.u8(), idx = er.uleb(); if (kind === 0) funcOf[nm] = idx; }
  const mallocIdx = funcOf[mallocExport], freeIdx = funcOf[freeExport];
  if (mallocIdx === undefined || freeIdx === undefined) throw new Error(`wasm-alloc: exports ${mallocExport}/${freeExport} are not functions of this module`);

  // three mutable i32 globals = 0, appended (no existing index moves)
  const gl = sec(6), gr = new Reader(gl.body), globalCount = gr.uleb();
  const g0 = importedGlobals + globalCount, g = [g0, g0 + 1, g0 + 2];
  const zero = [0x7f, 0x01, 0x41, 0x00, 0x0b];
  gl.body = Buffer.concat([Buffer.from(uleb(globalCount + 3)), gl.body.subarray(gr.p), Buffer.from([...zero, ...zero, ...zero])]);

  const extra: number[] = [];
  [ALLOC_EXPORTS.mallocs, ALLOC_EXPORTS.mallocBytes, ALLOC_EXPORTS.frees].forEach((nm, i) => {
    const b = Buffer.from(nm);
    extra.push(...uleb(b.length), ...b, 0x03, ...uleb(g[i]));
  });
  ex.body = Buffer.concat([Buffer.from(uleb(exportCount + 3)), ex.body.subarray(exportsAt), Buffer.from(extra)]);

  // prepend `g += 1` (and `g += size`) to the bodies of malloc and free
  const inc = (gi: number) => [0x23, ...uleb(gi), 0x41, 0x01, 0x6a, 0x24, ...uleb(gi)];
  const addArg0 = (gi: number) => [0x23, ...uleb(gi), 0x20, 0x00, 0x6a, 0x24, ...uleb(gi)];
  const patches = new Map<number, number[]>([
    [mallocIdx - importedFuncs, [...inc(g[0]), ...addArg0(g[1])]],
    [freeIdx - importedFuncs, inc(g[2])],
  ]);
  const code = sec(10), cr = new Reader(code.body), fnCount = cr.uleb(), parts: Uint8Array[] = [Buffer.from(uleb(fnCount))];
  let chunkStart = cr.p;
  for (let i = 0; i < fnCount; i++) {
    const start = cr.p, size = cr.uleb(), bodyStart = cr.p, end = bodyStart + size;
    const patch = patches.get(i);
    if (patch) {
      parts.push(code.body.subarray(chunkStart, start));
      const lr = new Reader(code.body, bodyStart);
      for (let n = lr.uleb(); n--;) { lr.uleb(); lr.u8(); }
      const locals = code.body.subarray(bodyStart, lr.p), rest = code.body.subarray(lr.p, end);
      parts.push(Buffer.from(uleb(locals.length + patch.length + rest.length)), locals, Buffer.from(patch), rest);
      chunkStart = end;
    }
    cr.p = end;
  }
  parts.push(code.body.subarray(chunkStart));
  code.body = Buffer.concat(parts);

  const out: Uint8Array[] = [wasm.subarray(0, 8)];
  for (const s of sections) out.push(Buffer.from([s.id, ...uleb(s.body.length)]), s.body);
  return Buffer.concat(out);
}

let compiled: WebAssembly.Module | null = null;

/** The RELEASE_SYNC QuickJS wasm with allocation counters, compiled once per process. */
export function allocCountingWasm(): WebAssembly.Module {
  if (compiled) return compiled;
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    const fromQjs = createRequire(req.resolve("quickjs-emscripten"));
    dir = join(dirname(fromQjs.resolve("@jitl/quickjs-wasmfile-release-sync/package.json")), "dist");
  } catch (e) {
    throw new Error("wasm-alloc: cannot find @jitl/quickjs-wasmfile-release-sync (is quickjs-emscripten installed?): " + (e as Error).message);
  }
  const glue = readFileSync(join(dir, "emscripten-module.mjs"), "utf8");
  const exportOf = (sym: string) => {
    const m = new RegExp("\\b" + sym + "=[\\w$]+\\.([\\w$]+)").exec(glue);
    if (!m) throw new Error(`wasm-alloc: cannot find the wasm export behind ${sym} in ${dir}/emscripten-module.mjs (quickjs-emscripten changed its build?)`);
    return m[1];
  };
  const wasm = readFileSync(join(dir, "emscripten-module.wasm"));
  compiled = new WebAssembly.Module(patchAllocCounters(wasm, exportOf("_malloc"), exportOf("_free")) as Uint8Array<ArrayBuffer>);
  return compiled;
}
