// A node:test reporter that counts passed and failed tests per test file and writes them as JSON
// ({ "<file>": { "pass": n, "fail": m } }) to its destination: scripts/test.mjs prints the counts
// per suite and per platform from it. Suites (describe blocks) are not counted, only tests.
export default async function* countReporter(source) {
  const counts = {};
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") continue;
    const file = d.file ?? "?";
    const c = (counts[file] ??= { pass: 0, fail: 0 });
    if (event.type === "test:pass" && !d.skip && !d.todo) c.pass++;
    else if (event.type === "test:fail") c.fail++;
  }
  yield JSON.stringify(counts);
}
