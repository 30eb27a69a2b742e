// Character-class checks for values that end up in headers, paths or queries.

/** RFC 9110 token characters (header names, Envoy cluster names). Empty is not a token. */
export function isToken(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e || c == 0x21 || c == 0x23 || c == 0x24 ||
      c == 0x25 || c == 0x26 || c == 0x27 || c == 0x2a || c == 0x2b || c == 0x5e || c == 0x60 || c == 0x7c;
    if (!ok) return false;
  }
  return s.length > 0;
}

/** RFC 3986 unreserved characters only: safe in a URL path segment or query value unencoded. */
export function isUnreserved(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
    if (!ok) return false;
  }
  return true;
}
