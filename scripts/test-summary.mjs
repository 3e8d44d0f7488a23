// A reporter for node's test runner (--test-reporter): writes, at the end,
// one JSON object that counts what ran, as node's own summary counts it,
// and names every test that failed or was skipped, with the reason. The test
// runner (scripts/test.mjs) reads it to say where and how many tests ran.
export default async function* summary(source) {
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
  const failed = [];
  const skipped = [];
  for await (const { type, data } of source) {
    if (type !== "test:pass" && type !== "test:fail") continue;
    counts.tests++;
    const where = { name: data.name, file: data.file };
    if (data.skip !== undefined && data.skip !== false) {
      counts.skipped++;
      skipped.push({ ...where, reason: typeof data.skip === "string" ? data.skip : "" });
    } else if (data.todo !== undefined && data.todo !== false) {
      counts.todo++;
    } else if (type === "test:pass") {
      counts.pass++;
    } else if (/cancel/i.test(data.details?.error?.failureType ?? "")) {
      counts.cancelled++;
      failed.push({ ...where, reason: "cancelled" });
    } else {
      counts.fail++;
      failed.push({ ...where, reason: String(data.details?.error?.cause?.message ?? data.details?.error?.message ?? "").split("\n")[0] });
    }
  }
  yield `${JSON.stringify({ ...counts, failed, skippedTests: skipped })}\n`;
}
