// Tag values inside Envoy stat names (filter/metrics.ts): the filter encodes each tag as
// `;<name>=<value>` and envoy/stats-tags.yaml extracts the value with `([^;]*)`, so a value must
// never contain `;` or `=`. Dots, slashes, colons stay (model names: `gpt-4.1`,
// `accounts/fireworks/models/x`, `anthropic.claude-3-5-sonnet-20240620-v1:0`).

const MAX_TAG_CHARS: i32 = 96;

function tagChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    c == 0x2e || c == 0x5f || c == 0x2d || c == 0x3a || c == 0x2f || c == 0x40 || c == 0x2b; // . _ - : / @ +
}

/**
 * [A-Za-z0-9._:/@+-] kept, anything else (`;`, `=`, spaces, quotes, non-ASCII) becomes `_`, a
 * second consecutive `.` becomes `_` (Envoy splits stat names into tokens at dots; no empty
 * tokens), at most 96 characters, never empty ("none").
 */
export function tagValue(s: string): string {
  const n = s.length < MAX_TAG_CHARS ? s.length : MAX_TAG_CHARS;
  if (n == 0) return "none";
  let clean = n == s.length;
  for (let i = 0; i < n && clean; i++) {
    const c = s.charCodeAt(i);
    if (!tagChar(c) || (c == 0x2e && i > 0 && s.charCodeAt(i - 1) == 0x2e)) clean = false;
  }
  if (clean) return s;
  let out = "";
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const keep = tagChar(c) && !(c == 0x2e && prev == 0x2e);
    out += keep ? String.fromCharCode(c) : "_";
    prev = keep ? c : 0x5f;
  }
  return out;
}
