import { describe, expect, it } from "vitest";
import { ALWAYS_PRESENT_FIELDS, createLogger, LOG_FIELDS, logFields, REDACTED, type LogLevel } from "../../../lib/telemetry";

function capture() {
  const lines: { level: LogLevel; fields: Record<string, unknown> }[] = [];
  return { lines, sink: (level: LogLevel, line: string) => lines.push({ level, fields: JSON.parse(line) }) };
}

describe("structured logs", () => {
  it("always carry phase, rotationId, keyId and keyState, null when not applicable", () => {
    expect(logFields({})).toEqual({ phase: null, rotationId: null, keyId: null, keyState: null });
    expect(logFields({ phase: "promoted", rotationId: "r1", keyId: "kek:v/k", keyState: "primary", kind: "kek" }, { rewrapped: 10, total: 20 })).toEqual({
      phase: "promoted", rotationId: "r1", keyId: "kek:v/k", keyState: "primary", kind: "kek", rewrapped: 10, total: 20,
    });
  });

  it("write one JSON line per call with the component, level and the rotation context", () => {
    const { lines, sink } = capture();
    const log = createLogger("orchestration", { rotationId: "r1", keyId: "kek:v/k", phase: "locked" }, sink);
    log.info("lock acquired");
    log.with({ phase: "rewrapping", keyState: "secondary" }).warn("throttled by Key Vault", { errorCode: "Throttled" });
    expect(lines).toEqual([
      { level: "info", fields: { msg: "lock acquired", level: "info", component: "orchestration", phase: "locked", rotationId: "r1", keyId: "kek:v/k", keyState: null } },
      {
        level: "warn",
        fields: { msg: "throttled by Key Vault", level: "warn", component: "orchestration", phase: "rewrapping", rotationId: "r1", keyId: "kek:v/k", keyState: "secondary", errorCode: "Throttled" },
      },
    ]);
    for (const l of lines) for (const f of ALWAYS_PRESENT_FIELDS) expect(l.fields).toHaveProperty(f);
  });

  it("never carry key material: fields named like it, and PEM private keys, are redacted", () => {
    const f = logFields({ keyId: "dek:contoso" }, {
      plaintextDek: "c2VjcmV0", privateKey: "x", key: "AAAA", k: "AAAA", d: "AAAA", connectionString: "Endpoint=...", accessToken: "ey..",
      note: "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", version: "abc123", continuation: "next-page",
    });
    for (const name of ["plaintextDek", "privateKey", "key", "k", "d", "connectionString", "accessToken", "note"]) expect(f[name]).toBe(REDACTED);
    expect(f.version).toBe("abc123");
    expect(f.continuation).toBe("next-page");
  });

  it("list every always-present field among the names KQL may use", () => {
    for (const f of ALWAYS_PRESENT_FIELDS) expect(LOG_FIELDS).toContain(f);
  });
});
