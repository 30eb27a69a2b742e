// Reads the AssemblyScript allocator's state from outside the VM (the filter exports no runtime
// helpers). AssemblyScript 0.28's TLSF keeps a root structure at __heap_base (rounded to 16):
// flMap, 23 second-level bitmaps, 23×16 free-list heads, then the tail block pointer; after the
// root, blocks follow back to back up to the tail, each headed by a u32 `mmInfo` (size | FREE=1 |
// LEFTFREE=2), with the payload 16-aligned (std/assembly/rt/tlsf.ts, rt/common.ts).
//
// __heap_base is not exported and wasm-opt may trim trailing zeros of the data segments, so the
// root is found by scanning 16-aligned addresses from the end of the static data for one whose
// block chain walks exactly to its tail pointer. "Used" counts every allocated block, including
// objects the incremental GC has not swept yet.

const SL_START = 4, FL_BITS = 23, SL_SIZE = 16;
const HL_START = (SL_START + FL_BITS * 4 + 15) & ~15;
const HL_END = HL_START + FL_BITS * SL_SIZE * 4;
const ROOT_SIZE = HL_END + 4;
const BLOCK_OVERHEAD = 4;

/** End of the active data segments (the lowest possible __heap_base). */
export function staticDataEnd(wasm: Uint8Array): number {
  let p = 8, end = 0;
  const u32 = (): number => { let r = 0, s = 0, b; do { b = wasm[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  while (p < wasm.length) {
    const id = wasm[p++];
    const size = u32();
    const next = p + size;
    if (id === 11) {
      const n = u32();
      for (let i = 0; i < n; i++) {
        const flags = u32();
        let offset = 0;
        if (flags === 0 || flags === 2) {
          if (flags === 2) u32();
          if (wasm[p] === 0x41) { p++; let r = 0, s = 0, b; do { b = wasm[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); offset = r; }
          while (wasm[p] !== 0x0b) p++;
          p++;
        }
        const len = u32();
        if (flags !== 1) end = Math.max(end, offset + len);
        p += len;
      }
    }
    p = next;
  }
  return end;
}

export interface HeapStats { used: number; free: number; blocks: number; largestFree: number }

function walk(mem: DataView, root: number): HeapStats | null {
  const size = mem.byteLength;
  if (root + ROOT_SIZE > size) return null;
  const tail = mem.getUint32(root + HL_END, true);
  if (tail === 0 || tail >= size || (tail + BLOCK_OVERHEAD) % 16 !== 0) return null;
  let b = ((root + ROOT_SIZE + BLOCK_OVERHEAD + 15) & ~15) - BLOCK_OVERHEAD;
  const st: HeapStats = { used: 0, free: 0, blocks: 0, largestFree: 0 };
  while (b < tail) {
    const info = mem.getUint32(b, true);
    const bs = info & ~3;
    if ((bs & 15) !== 12) return null; // payloads are 16-aligned: every block size is 12 mod 16
    if (info & 1) { st.free += bs; if (bs > st.largestFree) st.largestFree = bs; } else st.used += bs;
    st.blocks++;
    b += BLOCK_OVERHEAD + bs;
  }
  return b === tail && (mem.getUint32(tail, true) & ~3) === 0 ? st : null;
}

/** Finds the TLSF root once per module, then walks the heap of any instance of it. */
export class HeapReader {
  root = -1;
  constructor(private readonly dataEnd: number) {}

  read(memory: WebAssembly.Memory): HeapStats | null {
    const mem = new DataView(memory.buffer);
    if (this.root >= 0) {
      const st = walk(mem, this.root);
      if (st) return st;
    }
    for (let r = (this.dataEnd + 15) & ~15; r < this.dataEnd + (1 << 20) && r + ROOT_SIZE < mem.byteLength; r += 16) {
      const st = walk(mem, r);
      if (st) { this.root = r; return st; }
    }
    return null;
  }
}
