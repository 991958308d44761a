// Manual rotations, policies with ETags, and the request rules every route shares.
import { afterEach, describe, expect, it } from "vitest";
import { startRotation } from "../../../lib/orchestration/start";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { ADMIN, AUDITOR, chain, OPERATOR, seedKey, startApiHost, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const policy = { tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" };

describe("manual rotation", () => {
  it("starts at once: 202 running with a status URL, then completes", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ status: "running", statusUrl: `/api/rotations/${r.json().rotationId}` });
    await h.host.client.waitForCompletion(instanceIdFor(r.json().rotationId));
    const view = await h.call("GET", r.json().statusUrl as string, { as: AUDITOR });
    expect(view.json()).toMatchObject({ phase: "completed", runtimeStatus: "Completed", trigger: "manual", actor: "olivia", reason: "routine rotation" });
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    const keys = (await h.call("GET", "/api/keys", { as: AUDITOR })).json().keys as { keyId: string; lastRotationId?: string }[];
    expect(keys.find((k) => k.keyId === keyId)?.lastRotationId).toBe(r.json().rotationId);
  });

  it("answers 409 naming the running rotation when another rotation holds the key", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const running = await startRotation(h.host.client, { rotationId: `${keyId}@manual:slow`, keyId, trigger: "manual", actor: "bob", propagationDelay: "PT1H" });
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    expect(r.status).toBe(409);
    expect(r.json().error).toMatchObject({ code: "LockHeld", rotationId: running.rotationId });
  });

  it("keeps the lock through a propagation wait longer than the lease, and then completes", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const slow = await startRotation(h.host.client, { rotationId: `${keyId}@manual:slow`, keyId, trigger: "manual", actor: "bob", propagationDelay: "PT1H", leaseDuration: "PT15M" });
    for (let minutes = 5; minutes <= 50; minutes += 5) {
      h.clock.advance(5 * 60_000);
      await h.host.idle();
    }
    // 50 minutes in: three leases would have lapsed without renewal, yet the key is still held.
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    expect(r.status).toBe(409);
    expect(r.json().error).toMatchObject({ code: "LockHeld", rotationId: slow.rotationId });
    h.clock.advance(15 * 60_000);
    await h.host.idle();
    expect((await h.host.client.waitForCompletion(slow.instanceId, { timeoutMs: 30_000 })).runtimeStatus).toBe("Completed");
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "LockBroken")).toEqual([]);
  });

  it("refuses unknown fields, bad modes, unmanaged keys and bodies over 64 KiB, naming the field", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const cases: [unknown, number, string | undefined][] = [
      [{ keyId, reason: "r", mode: "manual", force: true }, 400, "force"],
      [{ keyId, reason: "r", mode: "sometimes" }, 400, "mode"],
      [{ keyId: "kek:demo-vault/unknown", reason: "routine rotation", mode: "manual" }, 404, "keyId"],
      [{ keyId: "not a key", reason: "routine rotation", mode: "manual" }, 400, "keyId"],
      [{ keyId, reason: "x".repeat(70_000), mode: "manual" }, 413, undefined],
      ["[1,2", 400, undefined],
    ];
    for (const [body, status, field] of cases) {
      const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: typeof body === "string" ? body : JSON.stringify(body) });
      expect(r.status, r.body).toBe(status);
      expect(r.json().error.field).toBe(field);
    }
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(1);
  });
});

describe("policies", () => {
  it("create without If-Match (201, ETag), replace with it (200), stale ETag 412, second create 409", async () => {
    h = await startApiHost();
    const created = await h.call("PUT", "/api/policies/quarterly", { as: ADMIN, body: policy });
    expect(created.status, created.body).toBe(201);
    const etag = created.headers.etag as string;
    expect(etag).toBeTruthy();
    const again = await h.call("PUT", "/api/policies/quarterly", { as: ADMIN, body: policy });
    expect(again.status).toBe(409);
    const replaced = await h.call("PUT", "/api/policies/quarterly", { as: ADMIN, body: { ...policy, overlap: "P14D" }, headers: { "if-match": etag } });
    expect(replaced.status, replaced.body).toBe(200);
    const stale = await h.call("PUT", "/api/policies/quarterly", { as: ADMIN, body: { ...policy, overlap: "P10D" }, headers: { "if-match": etag } });
    expect(stale.status).toBe(412);
    expect(stale.json().error.code).toBe("PreconditionFailed");
    const one = await h.call("GET", "/api/policies/quarterly", { as: AUDITOR });
    expect(one.json()).toMatchObject({ policy: { overlap: "P14D" }, etag: replaced.headers.etag });
    expect((await h.call("GET", "/api/policies", { as: AUDITOR })).json().policies).toHaveLength(1);
  });

  it("names the offending field of an invalid policy", async () => {
    h = await startApiHost();
    const r = await h.call("PUT", "/api/policies/p1", { as: ADMIN, body: { ...policy, schedule: { every: "P1H" } } });
    expect(r.status).toBe(400);
    expect(r.json().error.field).toBe("schedule.every");
    const unknown = await h.call("PUT", "/api/policies/p1", { as: ADMIN, body: { ...policy, colour: "red" } });
    expect(unknown.json().error.field).toBe("colour");
  });
});

describe("reads", () => {
  it("serves a signing key's JWKS without a principal, public members only", async () => {
    h = await startApiHost();
    await seedKey(h.mem, "signing", "token-signer");
    const r = await h.call("GET", "/api/jwks/demo-vault/token-signer");
    expect(r.status).toBe(200);
    const keys = r.json().keys as Record<string, unknown>[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", use: "sig" });
    expect(keys[0]!.d).toBeUndefined();
    expect((await h.call("GET", "/api/jwks/demo-vault/nope")).status).toBe(404);
  });

  it("health shows notification delivery", async () => {
    h = await startApiHost();
    const r = await h.call("GET", "/api/health");
    expect(r.json()).toMatchObject({ status: "ok", components: { notifications: { status: "ok", failures: 0 } } });
  });
});
