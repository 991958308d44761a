// The durable KEK flow with the key hierarchy on real parts: the stack of test/e2e/rotation (durable
// host with history in Azurite, Key Vault peer, Service Bus peer, compose(cfg) from settings) plus
// the hierarchy's settings (a trusted branch-key signing key, fresh branch tables), tenants with
// format-2 DEKs under branch keys, and ciphertexts written through lib/envelope.
import { keyClient } from "../../support/keyvault";
import { uniqueTableName } from "../../support/tables";
import { readdirSync } from "node:fs";
import path from "node:path";
import { seedVaultKey, VAULT, type Peers, type Stack, type StackSuite } from "../rotation/stack";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { hierarchyRuntimeFrom, type HierarchyRuntime } from "../../../lib/hierarchy/durableRuntime";
import type { CompositionOverrides } from "../../../lib/compose";
import { tableClient } from "../../../lib/stores/tables";
import { keyVaultsFor } from "../../../lib/vault/keyVault";

export const SIGNER = "branch-signer";

const FUNCTIONS_DIR = path.resolve(__dirname, "../../../functions");
/** Every function of the app (HTTP API included) but the policy timer: no schedule runs here. */
const APP_FUNCTIONS = readdirSync(FUNCTIONS_DIR).filter((f) => f.endsWith(".ts") && !f.startsWith("_") && f !== "policyTimer.ts").sort().map((f) => path.join(FUNCTIONS_DIR, f));

export interface HierarchyStack {
  s: Stack;
  /** The test's own view of the hierarchy's tables (same settings as the app's). */
  rt: HierarchyRuntime & { keys: NonNullable<HierarchyRuntime["keys"]> };
  kek: { keyId: string; name: string; v1: string };
  /** `<tenant>/<dekVersion>` → ciphertext of `<tenant> data v<dekVersion>`. */
  cts: Map<string, string>;
}

/** A stack with the hierarchy configured (HTTP functions too), a KEK whose tenants have two DEKs
 * each under branch keys wrapped under its first version, and a ciphertext under every DEK. */
export async function startHierarchyStack(suite: StackSuite, opts: { tenants?: string[]; isolated?: string[]; compose?: CompositionOverrides; sharedBranches?: number; withPolicyTimer?: boolean } = {}): Promise<HierarchyStack> {
  await ensureSigner(suite.peers);
  const s = await suite.start({
    // withPolicyTimer: the timer is loaded too (fired by the test: set its schedule out of the way).
    functions: opts.withPolicyTimer ? [...APP_FUNCTIONS, path.join(FUNCTIONS_DIR, "policyTimer.ts")] : APP_FUNCTIONS,
    env: {
      KEYROTOR_BRANCH_SIGNING_KEY_ID: `signing:${VAULT}/${SIGNER}`, KEYROTOR_BRANCH_KEYS_PER_KEK: String(opts.sharedBranches ?? 2),
    },
    ...(opts.compose ? { compose: opts.compose } : {}),
  });
  const made = hierarchyRuntimeFrom(s.cfg, keyVaultsFor(s.cfg));
  if (!made.keys) throw new Error("[test] the hierarchy has no signer: KEYROTOR_BRANCH_SIGNING_KEY_ID was not read");
  const rt = { ...made, keys: made.keys };
  const name = uniqueTableName("kek").toLowerCase();
  const seeded = await seedVaultKey(s, suite.peers, "kek", name);
  const kek = { keyId: seeded.keyId, name, v1: seeded.v1 };
  const writer = new HierarchyDeks(rt.keys, rt.deks);
  const env = envelopeOver(rt);
  const cts = new Map<string, string>();
  const isolated = new Set(opts.isolated ?? []);
  for (const tenant of [...(opts.tenants ?? ["t-a", "t-b", "t-c"]), ...isolated]) {
    for (const v of [1, 2]) {
      await writer.create({ tenant, dekVersion: v, kekKeyId: kek.keyId, kekVersion: kek.v1, isolated: isolated.has(tenant) });
      cts.set(`${tenant}/${v}`, await env.encrypt(tenant, Buffer.from(`${tenant} data v${v}`)));
    }
  }
  return { s, rt, kek, cts };
}

async function ensureSigner(peers: Peers): Promise<void> {
  const kc = keyClient(peers.vault);
  try {
    await kc.getKey(SIGNER);
  } catch {
    await kc.createRsaKey(SIGNER, { keySize: 2048, keyOps: ["sign", "verify"] });
  }
}

/** A consumer's envelope over the hierarchy (a cold cache each time: nothing carried over). */
export function envelopeOver(rt: HierarchyRuntime & { keys: NonNullable<HierarchyRuntime["keys"]> }): Envelope {
  return new Envelope(new HierarchyDekResolver(rt.deks, rt.keys, undefined, { primaryTtlMs: 0 }));
}

/** Every ciphertext decrypts to its plaintext through lib/envelope; returns how many did not. */
export async function undecryptable(h: HierarchyStack): Promise<string[]> {
  const env = envelopeOver(h.rt);
  const bad: string[] = [];
  for (const [k, ct] of h.cts) {
    const [tenant, v] = k.split("/");
    try {
      if ((await env.decrypt(ct)).toString() !== `${tenant} data v${v}`) bad.push(k);
    } catch (err) {
      bad.push(`${k}: ${(err as Error).message}`);
    }
  }
  return bad;
}

/** DEK rows as stored (tenant/dekId → branch version and wrap): what a KEK rotation must not touch. */
export async function dekRows(h: HierarchyStack): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  for await (const e of tableClient(h.s.cfg, "branchDeks").listEntities<{ wrapped?: string; branchVersion?: number; branchId?: string }>()) {
    if (e.wrapped) rows.set(`${e.partitionKey}/${e.rowKey}`, `${e.branchId}#${e.branchVersion}:${e.wrapped}`);
  }
  return rows;
}
