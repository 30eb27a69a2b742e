// Output accounting on the client-facing chat.completion.chunk stream (the gateway's own output
// format for every provider), for token budgets that must act while a stream flows.

/** Bytes of text in the delta fields of the events in buf[start, end): content, arguments, reasoning. */
export function deltaTextBytes(buf: Uint8Array, start: i32, end: i32): i64 {
  if (start < 0) start = 0;
  if (end > buf.length) end = buf.length;
  const base = buf.dataStart;
  let total: i64 = 0;
  let i = start;
  while (i < end) {
    // Find `":"` preceded by one of the field names, then measure the string that follows.
    if (load<u8>(base + <usize>i) != 0x22) { i++; continue; }
    const k = fieldEnd(base, i, end);
    if (k < 0) { i++; continue; }
    // k is the index of the opening quote of the value string.
    let j = k + 1;
    while (j < end) {
      const c = load<u8>(base + <usize>j);
      if (c == 0x5c) { j += 2; continue; }
      if (c == 0x22) break;
      j++;
    }
    total += <i64>(j - k - 1);
    i = j + 1;
  }
  return total;
}

/** If a delta field name starts at the quote at i (`"content":"`, …), the index of its value's quote. */
function fieldEnd(base: usize, i: i32, end: i32): i32 {
  if (matchAt(base, i, end, "\"content\":\"")) return i + 10;
  if (matchAt(base, i, end, "\"arguments\":\"")) return i + 12;
  if (matchAt(base, i, end, "\"reasoning_content\":\"")) return i + 20;
  return -1;
}

function matchAt(base: usize, i: i32, end: i32, lit: string): bool {
  const n = lit.length;
  if (i + n > end) return false;
  for (let k = 0; k < n; k++) if (<u32>load<u8>(base + <usize>(i + k)) != <u32>lit.charCodeAt(k)) return false;
  return true;
}

/**
 * The shared head of the last chunk in buf[0, len): the bytes from its `{` up to (not including)
 * `"choices":` — i.e. `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` — or
 * null when there is no such chunk. A gateway-made chunk (finish, usage) reuses it so it carries
 * the same id, created and model as the rest of the stream.
 */
export function lastChunkHead(buf: Uint8Array, len: i32): Uint8Array | null {
  const base = buf.dataStart;
  for (let i = len - 7; i >= 0; i--) {
    if (!matchAt(base, i, len, "data: {")) continue;
    const open = i + 6;
    for (let j = open; j + 10 <= len; j++) {
      if (load<u8>(base + <usize>j) == 0x0a) break; // end of this event's data line
      if (matchAt(base, j, len, "\"choices\":")) {
        const out = new Uint8Array(j - open);
        memory.copy(out.dataStart, base + <usize>open, <usize>(j - open));
        return out;
      }
    }
  }
  return null;
}
