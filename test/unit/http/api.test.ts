import { describe, expect, it } from "vitest";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { api, json, readBody, MAX_BODY_BYTES } from "../../../lib/http/api";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { DependencyUnavailableError } from "../../../lib/domain/errors";

const ctx = () => new InvocationContext({ invocationId: "t", functionName: "t", logHandler: () => undefined });
const schema = z.strictObject({ keyId: z.string(), reason: z.string().min(10) });
const echo = api({ role: ROLES.operator }, async ({ req }) => json(200, await readBody(req, schema)));

function post(body: string, roles: string[] | null = [ROLES.operator]) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (roles) headers["x-ms-client-principal"] = encodePrincipal("alice", roles);
  return new HttpRequest({ method: "POST", url: "http://localhost/api/x", body: { string: body }, headers });
}

describe("api wrapper", () => {
  it("passes a valid body from a principal with the role", async () => {
    const res = await echo(post(JSON.stringify({ keyId: "kek:v/k", reason: "scheduled test" })), ctx());
    expect(res.status).toBe(200);
  });

  it("answers 401 without a principal and 403 with the wrong role", async () => {
    expect((await echo(post("{}", null), ctx())).status).toBe(401);
    expect((await echo(post("{}", [ROLES.auditor]), ctx())).status).toBe(403);
  });

  it("rejects unknown fields naming the field", async () => {
    const res = await echo(post(JSON.stringify({ keyId: "k", reason: "long enough reason", extra: 1 })), ctx());
    expect(res.status).toBe(400);
    expect(res.jsonBody).toEqual({ error: { code: "ValidationFailed", message: expect.stringContaining("extra"), field: "extra" } });
  });

  it("rejects non-JSON with 400 and bodies over 64 KiB with 413", async () => {
    expect((await echo(post("{nope"), ctx())).status).toBe(400);
    const big = JSON.stringify({ keyId: "k", reason: "x".repeat(MAX_BODY_BYTES) });
    expect((await echo(post(big), ctx())).status).toBe(413);
  });

  it("maps a dependency outage to 503 without leaking internals of unknown errors", async () => {
    const down = api({ role: "none" }, async () => {
      throw new DependencyUnavailableError("keyvault", "vault throttled");
    });
    expect((await down(post("{}"), ctx())).status).toBe(503);
    const boom = api({ role: "none" }, async () => {
      throw new Error("secret internal detail");
    });
    const res = await boom(post("{}"), ctx());
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.jsonBody)).not.toContain("secret internal detail");
  });
});
