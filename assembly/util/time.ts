// Unix time → SigV4's basic ISO 8601 timestamp "YYYYMMDD'T'HHMMSS'Z'" (UTC).
//
// The filter gets the time from the host as a number, and there is no date library in
// AssemblyScript, so the civil date is computed here. Days → (year, month, day) uses the
// era-based proleptic Gregorian algorithm (H. Hinnant, "chrono-Compatible Low-Level Date
// Algorithms", days_from_civil/civil_from_days): exact for every day, leap rules included
// (divisible by 4, except centuries, except every 400 years: 2000 is leap, 2100 is not), with
// no loops and no tables.

import { ByteBuilder } from "./bytes";

/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range a 4-digit year can express. */
export const AMZ_MIN_UNIX: i64 = -62167219200;
export const AMZ_MAX_UNIX: i64 = 253402300799;

@inline function floorDiv(a: i64, b: i64): i64 {
  const q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

@inline function two(b: ByteBuilder, v: i32): void {
  b.byte(<u8>(0x30 + v / 10));
  b.byte(<u8>(0x30 + v % 10));
}

/**
 * Appends the 16-byte timestamp for unix seconds (UTC). Input outside the 4-digit-year range is
 * clamped to it, so the output always has the fixed width SigV4 parses.
 */
export function appendAmzDate(b: ByteBuilder, unixSeconds: i64): void {
  let t = unixSeconds;
  if (t < AMZ_MIN_UNIX) t = AMZ_MIN_UNIX;
  if (t > AMZ_MAX_UNIX) t = AMZ_MAX_UNIX;
  const days = floorDiv(t, 86400);
  const sod = <i32>(t - days * 86400);
  // Shift the epoch to 0000-03-01 so the leap day is the last day of the (March-based) year.
  const z = days + 719468;
  const era = floorDiv(z, 146097);                                  // 400-year eras
  const doe = <i32>(z - era * 146097);                              // day of era [0, 146096]
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; // year of era [0, 399]
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);              // day of (March) year [0, 365]
  const mp = (5 * doy + 2) / 153;                                   // March = 0 … February = 11
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = <i32>(era * 400) + yoe + (month <= 2 ? 1 : 0);
  two(b, year / 100);
  two(b, year % 100);
  two(b, month);
  two(b, day);
  b.byte(0x54); // T
  two(b, sod / 3600);
  two(b, (sod / 60) % 60);
  two(b, sod % 60);
  b.byte(0x5a); // Z
}

/** "YYYYMMDDTHHMMSSZ" for unix seconds, e.g. 1440938160 → "20150830T123600Z". */
export function amzDateFromUnixSeconds(unixSeconds: i64): string {
  const b = new ByteBuilder(16);
  appendAmzDate(b, unixSeconds);
  return b.toString();
}
