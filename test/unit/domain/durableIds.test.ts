import { describe, expect, it } from "vitest";
import { durableSafeId } from "../../../lib/domain/durableIds";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { instanceIdFor } from "../../../lib/orchestration/names";

const decodeTwice = (s: string): string => decodeURIComponent(decodeURIComponent(s));

describe("durable ids that need no URL encoding", () => {
  it("writes a KEK rotation's instance id readably, '/' as _2F", () => {
    expect(instanceIdFor("kek:demo-vault/tenant-kek@manual:20261205T203600-ab12cd34")).toBe("kek:demo-vault_2Ftenant-kek@manual:20261205T203600-ab12cd34");
    expect(instanceIdFor("dek:tenant-a@2026-12-05T00:00:00.000Z")).toBe("dek:tenant-a@2026-12-05T00:00:00.000Z");
    expect(lockEntityKey("kek:demo-vault/tenant-kek")).toBe("kek:demo-vault_2Ftenant-kek");
  });

  it("holds only A-Z a-z 0-9 - . : @ ~ _ and reads the same through one or two URL decodings and as a URL path", () => {
    for (const raw of ["kek:v/k@x", "a%2Fb", "a\\b#c?d", "tab\there", "_5F", "ünï/cødé", "a b+c&d=e", "x\u0001y"]) {
      const id = durableSafeId(raw);
      expect(id).toMatch(/^[A-Za-z0-9\-.:@~_]+$/);
      expect(decodeURIComponent(id)).toBe(id);
      expect(decodeTwice(id)).toBe(id);
      expect(new URL(`instances/${id}`, "http://h/x/").pathname).toBe(`/x/instances/${id}`);
    }
  });

  it("maps distinct ids to distinct ids (the escape character is escaped itself)", () => {
    const raws = ["a/b", "a_2Fb", "a_b", "a%2Fb", "a%b", "ab", "a/_b", "a_/b", "é", "_C3_A9"];
    const ids = raws.map(durableSafeId);
    expect(new Set(ids).size).toBe(raws.length);
  });
});
