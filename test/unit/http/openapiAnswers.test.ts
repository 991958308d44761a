// The check every e2e API answer goes through (test/e2e/api/support.ts): an answer's status must be
// listed for its operation and its JSON body must validate; 500 and 503 are listed for every
// operation, since any of them can meet a broken invariant (a tampered chain) or a dependency down.
import { describe, expect, it } from "vitest";
import { answerMismatch } from "./openapiResponseSchemas";

const tampered = JSON.stringify({ error: { code: "LedgerTampered", message: "[keyrotor] [ledger] kek:v/k #10: strayRow; refusing to read it, run ledger verify" } });

describe("answers checked against the OpenAPI document", () => {
  it("accepts a documented status with a valid body", () => {
    expect(answerMismatch("getKeys", {}, 200, JSON.stringify({ keys: [] }))).toBeUndefined();
    expect(answerMismatch("getPolicies", { policyId: "p1" }, 404, JSON.stringify({ error: { code: "PolicyNotFound", message: "no policy p1" } }))).toBeUndefined();
  });

  it("lists 500 and 503 for every operation (a tampered chain read, a storage outage)", () => {
    expect(answerMismatch("getLedger", { keyId: "kek:v/k" }, 500, tampered)).toBeUndefined();
    expect(answerMismatch("postRotation", {}, 503, JSON.stringify({ error: { code: "DependencyUnavailable", message: "tables did not answer" } }))).toBeUndefined();
  });

  it("refuses a status the document does not list, a body that does not validate, and a body that is not JSON", () => {
    expect(answerMismatch("getKeys", {}, 418, "{}")).toMatch(/answered 418, which its OpenAPI document does not list/);
    expect(answerMismatch("getKeys", {}, 200, JSON.stringify({ items: [] }))).toMatch(/GET \/api\/keys 200: .*keys/);
    expect(answerMismatch("getKeys", {}, 200, "<html>")).toMatch(/not JSON/);
  });
});
