// PostgreSQL rollback end to end on the local host (durable host with history in Azurite, Key Vault
// and Service Bus peers, a real PostgreSQL): rotate, roll back, rotate again. A client holding the
// original connection string keeps working throughout; the rolled-back login keeps working until
// the next rotation, which retires it first (its sessions end, it can no longer log in) and then
// gives it a fresh password for the new version. Ledger entries and events for each step, and no
// credential in history, host logs, events or the ledger.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../dev/host";
import type { SecretProviderInput } from "../../../lib/domain/secretProviders";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { withSecretProviders } from "../../../lib/secrets/compose";
import { postgresProvider } from "../../../lib/secrets/postgres";
import { secretProviders } from "../../../lib/secrets/registry";
import { secretClient } from "../../support/keyvault";
import { connect, loginResult, startAlternatingLogins, type AlternatingLogins } from "../../support/postgres";
import { drainEvents, historyText, ledgerEntries, register, stackSuite, TENANT, VAULT, type Stack } from "../rotation/stack";

const suite = stackSuite();
let db: AlternatingLogins;
const held: pg.Client[] = [];

beforeAll(async () => {
  db = await startAlternatingLogins("orders_rb");
}, 120_000);
afterAll(async () => {
  for (const c of held) await c.end().catch(() => {});
  await db?.server.stop();
});

async function run(s: Stack, orchestrator: string, input: Record<string, unknown> & { rotationId: string; keyId: string }): Promise<RotationOutput> {
  await s.host.client.startNew(orchestrator, { instanceId: instanceIdFor(input.rotationId), input: { trigger: "manual", actor: "alice", reason: "postgres rollback test", ...input } });
  return (await s.host.client.waitForCompletion(instanceIdFor(input.rotationId), { timeoutMs: 60_000 })).output as RotationOutput;
}

/** The SQLSTATE (or message) of a query on an open session, or "ok". */
async function sessionResult(c: pg.Client): Promise<string> {
  try {
    await c.query("SELECT count(*) FROM orders");
    return "ok";
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? code : (err as Error).message;
  }
}

async function hold(url: string): Promise<pg.Client> {
  const c = await connect(url);
  held.push(c);
  return c;
}

const password = (url: string): string => decodeURIComponent(new URL(url).password);

describe("PostgreSQL rollback on the local host", () => {
  it("rotate, roll back, rotate again: the original connection string never stops working; the rolled-back login works through its overlap, and the first rotation after it retires it", async () => {
    const clock = new ManualClock(new Date().toISOString());
    const s = await suite.start({
      clock,
      wrapDeps: (d) => {
        withSecretProviders(d, secretProviders({ postgresPassword: (x) => postgresProvider(x, { setting: (n) => (n === "KEYROTOR_PG_ADMIN_ORDERS_RB" ? db.adminUrl : undefined) }) }));
      },
    });
    const provider: SecretProviderInput = { kind: "postgresPassword", host: "127.0.0.1", port: db.server.port, database: db.database, logins: ["app_a", "app_b"], adminConnectionSetting: "KEYROTOR_PG_ADMIN_ORDERS_RB", sslmode: "disable" };
    await s.policies.put({ policyId: "orders-rb-policy", tenant: TENANT, kinds: ["secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D", secret: { provider } }, undefined);
    const first = await secretClient(suite.peers.vault).setSecret("orders-rb", db.initialUrl);
    const v1 = first.properties.version!;
    const keyId = `secret:${VAULT}/orders-rb`;
    await register(s, { keyId, kind: "secret", tenant: TENANT, policyId: "orders-rb-policy", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: new Date(clock.now().getTime() - 86_400_000).toISOString() }] });
    const original = await hold(db.initialUrl); // a consumer connected with the original secret

    const rotated = await run(s, DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:1`, keyId });
    expect(rotated, JSON.stringify(rotated)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    const fresh = (await secretClient(suite.peers.vault).getSecret("orders-rb", { version: rotated.versionAfter! })).value!;
    expect(new URL(fresh).username).toBe("app_b");
    const onFresh = await hold(fresh); // a consumer that picked up the new version while it was primary

    const back = await run(s, DURABLE.orchestrators.rollback, { rotationId: `${keyId}@rollback:1`, keyId, rollbackTo: v1, rollbackFrom: rotated.versionAfter });
    expect(back, JSON.stringify(back)).toMatchObject({ outcome: "completed", versionBefore: rotated.versionAfter, versionAfter: v1 });
    expect(await sessionResult(original)).toBe("ok");
    expect(await loginResult(db.initialUrl)).toBe("ok");
    // Rolled back, not ended: the consumers on it have time to go back.
    expect(await loginResult(fresh)).toBe("ok");
    expect(await sessionResult(onFresh)).toBe("ok");

    // Inside the rolled-back version's overlap one person may not end it: the rotation is refused
    // and the rolled-back login keeps working.
    clock.advance(3_600_000);
    const early = await run(s, DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:early`, keyId });
    expect(early, JSON.stringify(early)).toMatchObject({ outcome: "failed", error: { code: "SlotInOverlap" } });
    expect(await loginResult(fresh)).toBe("ok");
    // Once its overlap (P7D, from the rollback) is over, the next rotation retires it first, then rotates.
    clock.advance(7 * 86_400_000);
    const next = await run(s, DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:2`, keyId });
    expect(next, JSON.stringify(next)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    const newest = (await secretClient(suite.peers.vault).getSecret("orders-rb", { version: next.versionAfter! })).value!;
    expect(new URL(newest).username).toBe("app_b");
    expect(await loginResult(newest)).toBe("ok");
    expect(await loginResult(fresh)).toMatch(/^28(P01|000)$/); // the rolled-back password is gone
    expect(await sessionResult(onFresh)).not.toBe("ok"); // and its session was ended
    expect(await sessionResult(original)).toBe("ok"); // the original consumer never noticed
    expect(await loginResult(db.initialUrl)).toBe("ok");
    await expect(secretClient(suite.peers.vault).getSecret("orders-rb", { version: rotated.versionAfter! })).rejects.toThrow(/disabled/);
    const versions = (await s.inventory.get(keyId))!.key.versions;
    expect(Object.fromEntries(versions.map((v) => [v.version, v.state]))).toEqual({ [v1]: "secondary", [rotated.versionAfter!]: "retired", [next.versionAfter!]: "primary" });

    const entries = await ledgerEntries(s, keyId);
    expect(entries.map((e) => e.type)).toEqual(expect.arrayContaining(["VersionCreated", "Promoted", "RolledBack", "Retired", "Completed"]));
    expect(entries.find((e) => e.type === "Retired")).toMatchObject({ details: { rolledBack: true, slot: "app_b" } });
    const events = await drainEvents(s);
    const types = events.map((e) => (e.body as { type?: string }).type);
    expect(types).toEqual(expect.arrayContaining(["Promoted", "RolledBack", "Retired", "RotationCompleted"]));

    const haystack = [await historyText(s), s.logs.join("\n"), JSON.stringify(events), JSON.stringify(entries)].join("\n");
    for (const secret of [db.initialUrl, fresh, newest]) {
      expect(haystack).not.toContain(secret);
      expect(haystack).not.toContain(password(secret));
      expect(haystack).not.toContain(encodeURIComponent(password(secret)));
    }
  }, 180_000);
});
