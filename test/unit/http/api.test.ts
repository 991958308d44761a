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

describe("api wrapper: only application/json changes state (CSRF through the Easy Auth session cookie)", () => {
  function request(method: string, contentType: string | null, body?: string) {
    const headers: Record<string, string> = { "x-ms-client-principal": encodePrincipal("alice", [ROLES.operator]) };
    if (contentType !== null) headers["content-type"] = contentType;
    return new HttpRequest({ method, url: "http://localhost/api/x", ...(body !== undefined ? { body: { string: body } } : {}), headers });
  }
  const valid = JSON.stringify({ keyId: "kek:v/k", reason: "scheduled test" });

  it("refuses text/plain, forms, multipart and other types with 415 before the handler runs", async () => {
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "application/json-patch+json", "application/json; charset=latin1", "", "application/json, text/plain"]) {
      let ran = false;
      const handler = api({ role: ROLES.operator }, async ({ req }) => {
        ran = true;
        return json(200, await readBody(req, schema));
      });
      const res = await handler(request("POST", type, valid), ctx());
      expect(res.status, type).toBe(415);
      expect(res.jsonBody).toEqual({ error: { code: "UnsupportedMediaType", message: expect.stringContaining("application/json") } });
      expect(ran, type).toBe(false);
    }
  });

  it("refuses a body-less POST or PUT without Content-Type with 415 (a cross-site fetch sends none)", async () => {
    let ran = false;
    const noBody = api({ role: ROLES.operator }, async () => {
      ran = true;
      return json(200, {});
    });
    expect((await noBody(request("POST", null), ctx())).status).toBe(415);
    expect((await noBody(request("PUT", null), ctx())).status).toBe(415);
    expect(ran).toBe(false);
    expect((await noBody(request("POST", "application/json"), ctx())).status).toBe(200);
  });

  it("accepts application/json with or without a utf-8 charset, in any case", async () => {
    for (const type of ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=\"UTF-8\""]) {
      expect((await echo(request("POST", type, valid), ctx())).status, type).toBe(200);
    }
  });

  it("leaves GET alone (reads need no body and no Content-Type)", async () => {
    const get = api({ role: ROLES.operator }, async () => json(200, { ok: true }));
    expect((await get(request("GET", null), ctx())).status).toBe(200);
  });

  it("answers readBody without application/json with 415 on any route", async () => {
    const open = api({ role: "none" }, async ({ req }) => json(200, await readBody(req, schema)));
    expect((await open(request("GET", "text/plain", valid), ctx())).status).toBe(415);
  });
});

describe("readBody bounds nesting depth", () => {
  const loose = api({ role: ROLES.operator }, async ({ req }) => json(200, await readBody(req, z.object({ keyId: z.string(), extra: z.unknown() }))));
  const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

  it("answers 400 BodyTooDeep to a 5,000-deep body", async () => {
    const res = await loose(post(`{"keyId":"k","extra":${nested(5000)}}`), ctx());
    expect(res.status).toBe(400);
    expect(res.jsonBody).toEqual({ error: { code: "BodyTooDeep", message: expect.stringContaining("32") } });
  });

  it("counts only structure, not brackets inside strings, and accepts 31 levels under the body object", async () => {
    expect((await loose(post(JSON.stringify({ keyId: "[[[[{{{{".repeat(20), extra: JSON.parse(nested(31)) as unknown })), ctx())).status).toBe(200);
    expect((await loose(post(`{"keyId":"k","extra":${nested(32)}}`), ctx())).status).toBe(400);
    expect((await loose(post(JSON.stringify({ keyId: "\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", extra: 1 })), ctx())).status).toBe(200);
  });
});
