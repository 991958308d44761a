// The PostgreSQL secret provider against a real PostgreSQL server started by the test (two
// alternating logins, the secret a full connection string): a client holding the old connection
// string keeps working through the overlap and fails after retirement.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSecretProvider, type ProviderSpecOf, type SlotVersion } from "../../../lib/domain/secretProviders";
import { MemoryKeyVault } from "../../../lib/orchestration/memory";
import { DualCredentialRotation } from "../../../lib/secrets/dualCredential";
import type { SecretVersionStore } from "../../../lib/secrets/port";
import { postgresProvider, scramVerifier } from "../../../lib/secrets/postgres";
import { secretProviders } from "../../../lib/secrets/registry";
import { adminQuery, connect, loginResult, startAlternatingLogins, type AlternatingLogins } from "../../support/postgres";

const ref = { vault: "demo-vault", name: "orders-db" };
let db: AlternatingLogins;
let spec: ProviderSpecOf<"postgresPassword">;
const settings = new Map<string, string>();

beforeAll(async () => {
  db = await startAlternatingLogins();
  settings.set("PG_ADMIN_ORDERS", db.adminUrl);
  const parsed = parseSecretProvider({ kind: "postgresPassword", host: "127.0.0.1", port: db.server.port, database: db.database, logins: ["app_a", "app_b"], adminConnectionSetting: "PG_ADMIN_ORDERS", sslmode: "disable" });
  if (parsed.kind !== "postgresPassword") throw new Error("kind");
  spec = parsed;
}, 90_000);
afterAll(async () => {
  await db?.server.stop();
});

function store(kv: MemoryKeyVault): SecretVersionStore {
  return {
    listSecretVersions: (v, n) => kv.listSecretVersions(v, n),
    setSecret: (v, n, value, o) => kv.setSecret(v, n, value, o),
    getSecretValue: async (v, n, version) => kv.secretValue(v, n, version) ?? "",
  };
}

function rotationWith(kv: MemoryKeyVault): DualCredentialRotation {
  return new DualCredentialRotation(store(kv), secretProviders({ postgresPassword: (s) => postgresProvider(s, { setting: (n) => settings.get(n) }) }));
}

describe("PostgreSQL provider (real server)", () => {
  it("the verifier it sends is the one PostgreSQL itself would store for the password", async () => {
    const salt = Buffer.alloc(16, 7);
    await adminQuery(db.adminUrl, "CREATE ROLE verifier_probe LOGIN PASSWORD 'pw-1'");
    await adminQuery(db.adminUrl, `ALTER ROLE verifier_probe PASSWORD '${scramVerifier("pw-2", salt)}'`);
    expect(await loginResult(`postgresql://verifier_probe:pw-2@127.0.0.1:${db.server.port}/${db.database}?sslmode=disable`)).not.toBe("28P01");
    expect(await loginResult(`postgresql://verifier_probe:pw-1@127.0.0.1:${db.server.port}/${db.database}?sslmode=disable`)).toBe("28P01");
  });

  it("rotates to the login not in use; the old connection string works through the overlap and fails after retirement", async () => {
    const kv = new MemoryKeyVault();
    const v0 = (await kv.setSecret(ref.vault, ref.name, db.initialUrl, { rotationId: "registered", slot: "app_a" })).version;
    const rotation = rotationWith(kv);
    const held = await connect(db.initialUrl); // a consumer connected with the old secret

    const prepared = await rotation.prepare(ref, spec, { rotationId: "r1", versions: [{ version: v0, slot: "app_a", state: "primary" }], primaryVersion: v0, emergency: false });
    expect(prepared).toEqual({ slot: "app_b" });
    const made = await rotation.create(ref, spec, { rotationId: "r1", prepared });
    const fresh = kv.secretValue(ref.vault, ref.name, made.version)!;
    expect(new URL(fresh).username).toBe("app_b");
    await expect(rotation.test(ref, spec, made.version)).resolves.toEqual({ ok: true });

    // Overlap: both connection strings log in, and the held session keeps working.
    expect(await loginResult(fresh)).toBe("ok");
    expect(await loginResult(db.initialUrl)).toBe("ok");
    expect((await held.query("SELECT count(*)::int AS n FROM orders")).rows[0]).toEqual({ n: 2 });

    // Retirement of v0 (now secondary) ends app_a: no new logins, and its sessions end.
    const versions: SlotVersion[] = [{ version: v0, slot: "app_a", state: "secondary" }, { version: made.version, slot: "app_b", state: "primary" }];
    expect(await rotation.retire(spec, versions, v0)).toEqual({ slot: "app_a" });
    expect(await loginResult(db.initialUrl)).toMatch(/^28(P01|000)$/); // password gone, login not permitted
    await expect(held.query("SELECT 1")).rejects.toThrow();
    expect(await loginResult(fresh)).toBe("ok");
    expect(await rotationWith(kv).test(ref, spec, made.version)).toEqual({ ok: true });
    await expect(postgresProvider(spec, { setting: (n) => settings.get(n) }).validate(db.initialUrl)).resolves.toMatchObject({ ok: false });

    // The next rotation takes app_a back with a new password; the old one stays dead.
    const again = await rotation.prepare(ref, spec, { rotationId: "r2", versions: [{ ...versions[0]!, state: "retired" }, versions[1]!], primaryVersion: made.version, emergency: false });
    expect(again.slot).toBe("app_a");
    const second = await rotation.create(ref, spec, { rotationId: "r2", prepared: again });
    expect(await loginResult(kv.secretValue(ref.vault, ref.name, second.version)!)).toBe("ok");
    expect(await loginResult(db.initialUrl)).toBe("28P01");
  });

  it("an admin connection lost between storing and setting the password resumes with the stored password", async () => {
    const kv = new MemoryKeyVault();
    const rotation = rotationWith(kv);
    const prepared = await rotation.prepare(ref, spec, { rotationId: "crash", versions: [], emergency: false });
    const admin = settings.get("PG_ADMIN_ORDERS")!;
    settings.set("PG_ADMIN_ORDERS", admin.replace(`:${db.server.port}/`, ":1/")); // nothing listens on port 1
    await expect(rotation.create(ref, spec, { rotationId: "crash", prepared })).rejects.toMatchObject({ family: "dependencyUnavailable" });
    const [stored] = await kv.listSecretVersions(ref.vault, ref.name);
    const value = kv.secretValue(ref.vault, ref.name, stored!.version)!;
    expect(await loginResult(value)).not.toBe("ok");
    settings.set("PG_ADMIN_ORDERS", admin);
    const resumed = await rotation.create(ref, spec, { rotationId: "crash", prepared });
    expect(resumed).toMatchObject({ version: stored!.version, reused: true });
    expect(await kv.listSecretVersions(ref.vault, ref.name)).toHaveLength(1);
    expect(await loginResult(value)).toBe("ok");
  });

  it("a missing admin setting is a clear 4xx naming the setting, and changes nothing", async () => {
    const provider = postgresProvider({ ...spec, adminConnectionSetting: "NOT_SET" }, { setting: () => undefined });
    await expect(provider.apply("app_b", `postgresql://app_b:x@127.0.0.1:${db.server.port}/${db.database}`)).rejects.toMatchObject({ code: "SettingMissing", field: "secret.provider.adminConnectionSetting" });
  });
});
