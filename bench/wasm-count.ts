// Count every malloc and free inside the QuickJS WebAssembly module.
//
// QuickJS's own `malloc_count` (rt.computeMemoryUsage()) is the number of blocks *alive*: it goes up on
// malloc and down on free, so over a steady-state loop its delta is ~0 however much garbage each
// message makes. To count allocations made, we patch the wasm: two mutable i32 globals count calls to
// and bytes asked of the exported `malloc`, a third counts `free`, and all three are exported. The
// patch prepends 4-8 instructions to those two function bodies and changes nothing else.
// (realloc is not exported, so it is not patched: a realloc that grows in place is not counted; one
// that moves calls malloc inside dlmalloc and is.)

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
  skipLimits() { const f = this.u8(); this.uleb(); if (f & 1) this.uleb(); }
}

export interface Counters { mallocs: string; mallocBytes: string; frees: string }
export const COUNTERS: Counters = { mallocs: "__bench_mallocs", mallocBytes: "__bench_malloc_bytes", frees: "__bench_frees" };

/** `mallocExport`/`freeExport`: the (minified) export names of malloc and free in this build. */
export function patchAllocCounters(wasm: Uint8Array, mallocExport: string, freeExport: string): Uint8Array<ArrayBuffer> {
  const r = new Reader(wasm, 8);
  const sections: { id: number; body: Uint8Array }[] = [];
  while (r.p < wasm.length) {
    const id = r.u8(), size = r.uleb();
    sections.push({ id, body: wasm.subarray(r.p, r.p + size) });
    r.p += size;
  }
  const sec = (id: number) => {
    const s = sections.find((x) => x.id === id);
    if (!s) throw new Error(`wasm has no section ${id}`);
    return s;
  };

  // imports: how many functions and globals come before the module's own
  let importedFuncs = 0, importedGlobals = 0;
  const imp = sections.find((x) => x.id === 2);
  if (imp) {
    const ir = new Reader(imp.body);
    for (let n = ir.uleb(); n--;) {
      ir.name(); ir.name();
      const kind = ir.u8();
      if (kind === 0) { ir.uleb(); importedFuncs++; }
      else if (kind === 1) { ir.u8(); ir.skipLimits(); }
      else if (kind === 2) ir.skipLimits();
      else if (kind === 3) { ir.u8(); ir.u8(); importedGlobals++; }
      else throw new Error("unknown import kind " + kind);
    }
  }

  // exports: find malloc and free
  const ex = sec(7), er = new Reader(ex.body), exportCount = er.uleb(), exportsAt = er.p;
  const funcOf: Record<string, number> = {};
  for (let n = exportCount; n--;) { const nm = er.name(), kind = er.u8(), idx = er.uleb(); if (kind === 0) funcOf[nm] = idx; }
  const mallocIdx = funcOf[mallocExport], freeIdx = funcOf[freeExport];
  if (mallocIdx === undefined || freeIdx === undefined) throw new Error(`exports ${mallocExport}/${freeExport} not found`);

  // globals: append three mutable i32 = 0
  const gl = sec(6), gr = new Reader(gl.body), globalCount = gr.uleb();
  const g0 = importedGlobals + globalCount, g = [g0, g0 + 1, g0 + 2];
  const newGlobal = [0x7f, 0x01, 0x41, 0x00, 0x0b];
  gl.body = Buffer.concat([Buffer.from(uleb(globalCount + 3)), gl.body.subarray(gr.p), Buffer.from([...newGlobal, ...newGlobal, ...newGlobal])]);

  // exports: append the three counters
  const names = [COUNTERS.mallocs, COUNTERS.mallocBytes, COUNTERS.frees];
  const extra: number[] = [];
  names.forEach((nm, i) => { const b = Buffer.from(nm); extra.push(...uleb(b.length), ...b, 0x03, ...uleb(g[i])); });
  ex.body = Buffer.concat([Buffer.from(uleb(exportCount + 3)), ex.body.subarray(exportsAt), Buffer.from(extra)]);

  // code: prepend the counting to malloc's and free's bodies
  const inc = (gi: number) => [0x23, ...uleb(gi), 0x41, 0x01, 0x6a, 0x24, ...uleb(gi)];
  const add = (gi: number) => [0x23, ...uleb(gi), 0x20, 0x00, 0x6a, 0x24, ...uleb(gi)]; // += first argument
  const patches = new Map<number, number[]>([[mallocIdx - importedFuncs, [...inc(g[0]), ...add(g[1])]], [freeIdx - importedFuncs, inc(g[2])]]);
  const code = sec(10), cr = new Reader(code.body), fnCount = cr.uleb(), parts: Uint8Array[] = [Buffer.from(uleb(fnCount))];
  let chunkStart = cr.p;
  for (let i = 0; i < fnCount; i++) {
    const start = cr.p, size = cr.uleb(), bodyStart = cr.p, end = bodyStart + size;
    const patch = patches.get(i);
    if (patch) {
      parts.push(code.body.subarray(chunkStart, start));
      const lr = new Reader(code.body, bodyStart);
      for (let n = lr.uleb(); n--;) { lr.uleb(); lr.u8(); } // locals
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
  return new Uint8Array(Buffer.concat(out));
}
