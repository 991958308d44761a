import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkEvidence, MAX_EVIDENCE_REFERENCE } from "../../../lib/domain/evidence";
import { InvalidRequestError } from "../../../lib/domain/errors";

function refusal(raw: string): string {
  try {
    checkEvidence(raw);
    return "accepted";
  } catch (err) {
    if (err instanceof InvalidRequestError) return `${err.status} ${err.code} ${err.field ?? ""}: ${err.message}`;
    throw err;
  }
}

describe("compromise evidence", () => {
  it.each([
    ["a PEM private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", /PEM/],
    ["a PEM certificate", "see -----BEGIN CERTIFICATE----- MIIB", /PEM/],
    ["a JWK's d", '{"kty":"EC","crv":"P-256","d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}', /JSON Web Key/],
    ["a JWK's k, spaced", '{ "kty": "oct", "k" : "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow" }', /JSON Web Key/],
    ["AccountKey=", "AccountName=x;AccountKey=Eby8vdM02xNOcqF", /credential/],
    ["SharedAccessKey=", "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b", /credential/],
    ["Password=", "Server=db;password = hunter2", /credential/],
    ["a SAS sig=", "https://a.blob.core.windows.net/c?sp=r&sig=abc", /credential/],
    ["a JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", /JSON Web Token/],
    ["64 hex characters", "a".repeat(64), /hex/],
    // 32 key-like bytes (a digest stands in for random key material, deterministically).
    ["32 bytes in base64", createHash("sha256").update("k1").digest("base64"), /base64/],
    ["32 bytes in base64url", createHash("sha256").update("k1").digest("base64url"), /base64/],
    ["32 bytes in base64 in free text", `the key was ${createHash("sha256").update("k2").digest("base64")} (from the log)`, /base64/],
    ["32 bytes in base64url in a URL's path", `https://paste.example/raw/${createHash("sha256").update("k1").digest("base64url")}`, /base64/],
  ])("refuses %s with a 400 on the evidence field that says why", (_what, raw, why) => {
    const r = refusal(raw);
    expect(r).toMatch(/^400 EvidenceLooksSecret evidence: /);
    expect(r).toMatch(why);
  });

  it.each([
    ["a ticket id", "SEC-4711"],
    ["a ticket URL", "https://contoso.atlassian.net/browse/SEC-4711"],
    ["a long lowercase URL path", "https://github.com/contoso/payments-service/security/advisories/ghsa-abcd-efgh-ijkl"],
    ["a GUID", "incident 3f2504e0-4f89-11d3-9a0c-0305e82c3301"],
    ["an Azure resource id", "/subscriptions/3f2504e0-4f89-11d3-9a0c-0305e82c3301/resourceGroups/rg-payments-prod/providers/Microsoft.KeyVault/vaults/payments-kv"],
    ["a portal URL", "https://portal.azure.com/#view/Microsoft_Azure_Security/AlertBlade/alertId/2518298373489999999_abcDEF"],
    ["an Azure DevOps work item", "https://dev.azure.com/contoso/Payments/_workitems/edit/123456"],
    ["a short hex commit id", "leak introduced in commit 1a2b3c4d5e6f7a8b9c0d"],
    ["prose", "Defender for Cloud alert: unusual key export from an unfamiliar IP address"],
  ])("accepts %s", (_what, raw) => {
    expect(refusal(raw)).toBe("accepted");
  });

  it("keeps the SHA-256 of exactly what was sent", () => {
    const raw = "SIEM alert 4711";
    expect(checkEvidence(raw)).toEqual({ sha256: createHash("sha256").update(raw).digest("hex"), reference: raw });
  });

  it("the reference is bounded, without control or bidi characters, and without a URL's query or fragment", () => {
    const { reference } = checkEvidence(`https://tickets.example/SEC-1?session=abc#frag\u202e\u0000 ${"x ".repeat(500)}`);
    expect(reference.length).toBeLessThanOrEqual(MAX_EVIDENCE_REFERENCE);
    expect(reference.startsWith("https://tickets.example/SEC-1 x x")).toBe(true);
    expect(reference).not.toMatch(/[\p{Cc}\u202e]|session|frag/u);
  });

  it("refuses evidence with nothing printable", () => {
    expect(refusal("\u0000\u200f \n")).toMatch(/^400 EvidenceEmpty/);
  });
});
