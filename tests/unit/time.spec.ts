// Unix seconds → SigV4 "YYYYMMDDTHHMMSSZ". Fixed points were produced with GNU date
// (`date -u -d @SECONDS +%Y%m%dT%H%M%SZ`); the exhaustive test walks the calendar one day at a
// time with the plain Gregorian leap rule, independently of the closed-form algorithm under test.

import { amzDateFromUnixSeconds, appendAmzDate, AMZ_MAX_UNIX, AMZ_MIN_UNIX } from "../../assembly/util/time";
import { ByteBuilder } from "../../assembly/util/bytes";

function isLeap(y: i32): bool { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

function monthDays(y: i32, m: i32): i32 {
  if (m == 2) return isLeap(y) ? 29 : 28;
  return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

/** Decimal value of b.buf[start, start + n). */
function num(b: ByteBuilder, start: i32, n: i32): i32 {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 10 + (<i32>b.buf[start + i] - 0x30);
  return v;
}

describe("amzDateFromUnixSeconds", () => {
  it("formats known instants (GNU date)", () => {
    const cases: string[][] = [
      ["1440938160", "20150830T123600Z"],    // the SigV4 test-suite timestamp
      ["0", "19700101T000000Z"],
      ["86399", "19700101T235959Z"],
      ["-1", "19691231T235959Z"],
      ["946684799", "19991231T235959Z"],
      ["951782400", "20000229T000000Z"],     // 2000: divisible by 400, leap
      ["951868799", "20000229T235959Z"],
      ["1704067199", "20231231T235959Z"],
      ["1709164800", "20240229T000000Z"],
      ["1718900000", "20240620T161320Z"],
      ["1735689599", "20241231T235959Z"],    // day 366 of a leap year
      ["4102444800", "21000101T000000Z"],
      ["4107455999", "21000227T235959Z"],
      ["4107456000", "21000228T000000Z"],
      ["4107542400", "21000301T000000Z"],    // 2100: century, not leap: Feb 28 → Mar 1
      ["4133980799", "21001231T235959Z"],
      ["13574563200", "24000229T000000Z"],   // 2400: leap again
      ["-62167219200", "00000101T000000Z"],
      ["253402300799", "99991231T235959Z"],
    ];
    for (let i = 0; i < cases.length; i++) {
      expect(amzDateFromUnixSeconds(I64.parseInt(cases[i][0]))).toBe(cases[i][1], cases[i][0]);
    }
  });

  it("clamps instants a 4-digit year cannot express", () => {
    expect(amzDateFromUnixSeconds(AMZ_MAX_UNIX + 1)).toBe("99991231T235959Z");
    expect(amzDateFromUnixSeconds(i64.MAX_VALUE)).toBe("99991231T235959Z");
    expect(amzDateFromUnixSeconds(AMZ_MIN_UNIX - 1)).toBe("00000101T000000Z");
    expect(amzDateFromUnixSeconds(i64.MIN_VALUE)).toBe("00000101T000000Z");
  });

  it("agrees with a day-by-day calendar walk from 1970 to 2401", () => {
    const b = new ByteBuilder(16);
    let y = 1970, m = 1, d = 1;
    let t: i64 = 0;
    let bad = 0;
    // Each day is probed at a different second of the day, covering all hours/minutes/seconds.
    let sod: i64 = 0;
    while (y < 2401) {
      b.reset();
      appendAmzDate(b, t + sod);
      const ok = b.len == 16 && num(b, 0, 4) == y && num(b, 4, 2) == m && num(b, 6, 2) == d
        && b.buf[8] == 0x54 && num(b, 9, 2) == <i32>(sod / 3600) && num(b, 11, 2) == <i32>((sod / 60) % 60)
        && num(b, 13, 2) == <i32>(sod % 60) && b.buf[15] == 0x5a;
      if (!ok && bad++ < 5) expect(b.toString()).toBe("", "day " + y.toString() + "-" + m.toString() + "-" + d.toString());
      t += 86400;
      sod = (sod + 3607) % 86400;
      if (++d > monthDays(y, m)) { d = 1; if (++m > 12) { m = 1; y++; } }
    }
    expect(bad).toBe(0);
    expect(t).toBe(13601088000); // 2401-01-01T00:00:00Z (GNU date)
  });
});
