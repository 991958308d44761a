// Every rotationId (and the DEK fan-out's id) is built by rotationIds in lib/domain/keys.ts: a
// format written in two places drifts, and a deterministic id that drifts starts a rotation twice.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { rotationIds } from "../../../lib/domain/keys";
import { rollbackId } from "../../../lib/api/rollback";
import { retirementId } from "../../../lib/api/retirement";
import { dekFanOutInstanceId } from "../../../lib/api/timer";
import { instanceIdFor } from "../../../lib/orchestration/names";

const LIB = path.resolve(__dirname, "../../../lib");
/** Templates with an `@` that build no rotationId. */
const NOT_ROTATION_IDS = [
  /occurrenceId: `/, // an expiry event's occurrence (its dedupe key), not a rotation
  /rec\(f, `refused@/, // a ledger step name within a rotation
];
const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []);

describe("rotationId formats", () => {
  it("are written only in rotationIds: no other template in lib/ builds `<id>@<something>`", () => {
    const builtElsewhere = files(LIB)
      .filter((f) => !f.endsWith(path.join("domain", "keys.ts")))
      .flatMap((f) => readFileSync(f, "utf8").split("\n").map((line, i) => ({ where: `${path.relative(LIB, f)}:${i + 1}`, line })))
      .filter(({ line }) => !NOT_ROTATION_IDS.some((r) => r.test(line)))
      .filter(({ line }) => !line.trim().startsWith("//") && !line.trim().startsWith("*") && /`[^`]*(\}|dek|fanout|[a-z])@(\$\{|retire:|rollback:|manual:|emergency:|expiry:)/.test(line))
      .map(({ where }) => where);
    expect(builtElsewhere).toEqual([]);
  });

  it("keep the ids that running and finished rotations already carry", () => {
    expect(retirementId("kek:v/k", "3")).toBe("kek:v/k@retire:3");
    expect(rollbackId("kek:v/k@manual:20260301T000000-ab12")).toBe("kek:v/k@rollback:manual:20260301T000000-ab12");
    expect(rotationIds.dekInPeriod("contoso", "2026-03-01T00:00:00.000Z")).toBe("dek:contoso@2026-03-01T00:00:00.000Z");
    expect(dekFanOutInstanceId("2026-03-01T00:00:00.000Z")).toBe(instanceIdFor("dek-fanout@2026-03-01T00:00:00.000Z"));
  });
});
