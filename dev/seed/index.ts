// The demo seed of `npm start`: a vault with an RSA-2048 KEK, a signing key and a webhook secret,
// 20 tenants × 50 DEKs wrapped under the KEK, policies as data, the inventory, and one key already
// due (the signing key's last rotation is backdated past a quarterly slot) so the first timer run
// rotates it. Seeds once: a marker row, written last, says the seed is complete; every step before
// it is idempotent (keys are created under a fixed rotationId, rows are create-if-absent), so a seed
// interrupted half-way finishes on the next start and a complete one is never repeated.
import { randomBytes } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import type { Config } from "../../lib/config";
import { RotationConflictError } from "../../lib/domain/errors";
import type { KeyVersion, ManagedKey } from "../../lib/domain/keys";
import type { PolicyInput } from "../../lib/domain/policy";
import { createWrappedDek, dekIdFor, kekFromVaults, type DekRecord } from "../../lib/envelope";
import { DekStore } from "../../lib/stores/dekStore";
import { Inventory } from "../../lib/stores/inventory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { ensureTable, statusOf, tableClient } from "../../lib/stores/tables";
import { keyVaultFor } from "../../lib/vault/keyVault";
import { hostTable, SEED_TABLE } from "../app/tables";

export const SEED_VERSION = "demo-v1";
const SEED_ROTATION = "seed:demo-v1";
const DAY = 86_400_000;
export const DEMO = {
  tenants: 20,
  deksPerTenant: 50,
  platformTenant: "platform",
  kek: "tenant-kek",
  signing: "token-signing",
  secret: "webhook-secret",
} as const;

export interface SeedMarker {
  seededAt: string;
  vault: string;
  keys: number;
  deks: number;
  policies: number;
}

export interface SeedResult {
  /** false when an earlier start had already seeded (nothing was written). */
  seeded: boolean;
  marker: SeedMarker;
}

/** Demo tenants: tenant-01 … tenant-20. */
export function demoTenants(n: number = DEMO.tenants): string[] {
  return Array.from({ length: n }, (_, i) => `tenant-${String(i + 1).padStart(2, "0")}`);
}

export function demoKeyIds(configuredVault: string): { kek: string; signing: string; secret: string } {
  const vault = configuredVault.toLowerCase(); // keyIds are canonical (vault names are case-insensitive)
  return { kek: `kek:${vault}/${DEMO.kek}`, signing: `signing:${vault}/${DEMO.signing}`, secret: `secret:${vault}/${DEMO.secret}` };
}

function demoPolicies(tenants: string[]): PolicyInput[] {
  const t = DEMO.platformTenant;
  return [
    { policyId: "kek-annual", tenant: t, kinds: ["kek"], schedule: { preset: "annual" }, expiresAfter: "P400D", overlap: "P30D", complianceTags: ["PCI-DSS-3.6.4"], description: "KEKs: annual rotation, rewrap every DEK" },
    { policyId: "signing-quarterly", tenant: t, kinds: ["signing"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P14D", complianceTags: ["SOC2-CC6.1"], description: "Token signing keys: quarterly" },
    { policyId: "secret-monthly", tenant: t, kinds: ["secret"], schedule: { preset: "monthly" }, expiresAfter: "P45D", overlap: "P3D", rollbackWindow: "P1D", secret: { length: 32, encoding: "base64url" }, description: "Webhook secrets: monthly" },
    ...tenants.map((tenant): PolicyInput => ({
      policyId: "dek-quarterly", tenant, kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P14D", description: `${tenant}'s data keys: quarterly`,
    })),
  ];
}

const iso = (ms: number) => new Date(ms).toISOString();

async function createIfAbsent(inventory: Inventory, key: ManagedKey): Promise<void> {
  try {
    await inventory.create(key);
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
  }
}

async function readMarker(table: TableClient): Promise<SeedMarker | undefined> {
  try {
    const e = await table.getEntity<{ marker: string }>("seed", SEED_VERSION);
    return JSON.parse(e.marker) as SeedMarker;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Seeds the demo unless an earlier start did. `markerTable` is where the seed records itself. */
export async function seedDemo(cfg: Config, opts: { now?: Date; log?: (line: string) => void; markerTable?: TableClient } = {}): Promise<SeedResult> {
  const log = opts.log ?? (() => {});
  const marks = await ensureTable(opts.markerTable ?? hostTable(cfg, SEED_TABLE));
  const existing = await readMarker(marks);
  if (existing) return { seeded: false, marker: existing };

  const now = (opts.now ?? new Date()).getTime();
  const vault = cfg.KEYROTOR_VAULT_URLS[0]!.name;
  const kv = keyVaultFor(cfg, vault);
  const ids = demoKeyIds(vault);
  const tenants = demoTenants();

  log(`seeding vault ${vault}: RSA-2048 KEK ${DEMO.kek}, EC P-256 signing key ${DEMO.signing}, secret ${DEMO.secret}`);
  const kek = await kv.createKeyVersion(DEMO.kek, { rotationId: SEED_ROTATION, kty: "RSA", keySize: 2048, keyOps: ["wrapKey", "unwrapKey"], expiresOn: new Date(now + 400 * DAY) });
  // The signing key is the one already due: its inventory says it was last rotated 100 days ago,
  // past a quarterly slot, so the first timer run rotates it.
  const signingRotatedAt = now - 100 * DAY;
  const signing = await kv.createKeyVersion(DEMO.signing, { rotationId: SEED_ROTATION, kty: "EC", curve: "P-256", keyOps: ["sign", "verify"], expiresOn: new Date(now + 60 * DAY) });
  const secret = await kv.createSecretVersion(DEMO.secret, () => randomBytes(32).toString("base64url"), { rotationId: SEED_ROTATION, expiresOn: new Date(now + 45 * DAY) });

  const policies = new PolicyStore(tableClient(cfg, "policies"), () => new Date(now));
  const policyInputs = demoPolicies(tenants);
  log(`seeding ${policyInputs.length} policies (KEK annual, signing quarterly, secret monthly, DEKs quarterly per tenant)`);
  for (const p of policyInputs) await policies.put(p, "*");

  const inventory = new Inventory(tableClient(cfg, "inventory"), policies);
  const version = (v: string, createdAt: number, expiresAt?: Date | number): KeyVersion => ({
    version: v, state: "primary", createdAt: iso(createdAt), rotationId: SEED_ROTATION, ...(expiresAt !== undefined ? { expiresAt: iso(+expiresAt) } : {}),
  });
  const t = DEMO.platformTenant;
  await createIfAbsent(inventory, { keyId: ids.kek, kind: "kek", tenant: t, policyId: "kek-annual", primaryVersion: kek.key.version, versions: [version(kek.key.version, now, kek.key.expiresOn)], lastRotatedAt: iso(now), lastRotationId: SEED_ROTATION });
  await createIfAbsent(inventory, { keyId: ids.signing, kind: "signing", tenant: t, policyId: "signing-quarterly", primaryVersion: signing.key.version, versions: [version(signing.key.version, signingRotatedAt, signing.key.expiresOn)], lastRotatedAt: iso(signingRotatedAt), lastRotationId: SEED_ROTATION });
  await createIfAbsent(inventory, { keyId: ids.secret, kind: "secret", tenant: t, policyId: "secret-monthly", primaryVersion: secret.secret.version, versions: [version(secret.secret.version, now, secret.secret.expiresOn)], lastRotatedAt: iso(now), lastRotationId: SEED_ROTATION });

  log(`seeding ${tenants.length} tenants × ${DEMO.deksPerTenant} DEKs wrapped under ${ids.kek} (local RSA-OAEP-256 wrap with the cached public key)`);
  const wrapper = kekFromVaults((name) => keyVaultFor(cfg, name));
  const deks = new DekStore(tableClient(cfg, "deks"));
  // Each tenant's DEK chain: v1 … v50, imported an hour apart 30 days ago; v50 is primary, the older
  // ones still decrypt. (Recent, so the evidence pack does not call them overdue for want of history.)
  const step = 3_600_000;
  const primaryAt = now - 30 * DAY;
  for (const tenant of tenants) {
    const older: DekRecord[] = [];
    for (let n = 1; n < DEMO.deksPerTenant; n++) {
      older.push(await createWrappedDek({ tenant, dekVersion: n, kekKeyId: ids.kek, kekVersion: kek.key.version, state: "secondary" }, wrapper, new Date(primaryAt - (DEMO.deksPerTenant - n) * step)));
    }
    await deks.putMany(older);
    const last = DEMO.deksPerTenant;
    if (!(await deks.get(tenant, dekIdFor(last)))) {
      await deks.addPrimary(await createWrappedDek({ tenant, dekVersion: last, kekKeyId: ids.kek, kekVersion: kek.key.version }, wrapper, new Date(primaryAt)));
    }
    const versions: KeyVersion[] = Array.from({ length: last }, (_, i) => ({
      version: `v${i + 1}`, state: i + 1 === last ? "primary" : "secondary", createdAt: iso(primaryAt - (last - i - 1) * step),
    }));
    await createIfAbsent(inventory, { keyId: `dek:${tenant}`, kind: "dek", tenant, policyId: "dek-quarterly", primaryVersion: `v${last}`, versions, lastRotatedAt: iso(primaryAt) });
  }

  const marker: SeedMarker = { seededAt: iso(now), vault, keys: 3 + tenants.length, deks: tenants.length * DEMO.deksPerTenant, policies: policyInputs.length };
  await marks.upsertEntity({ partitionKey: "seed", rowKey: SEED_VERSION, marker: JSON.stringify(marker) }, "Replace");
  return { seeded: true, marker };
}
