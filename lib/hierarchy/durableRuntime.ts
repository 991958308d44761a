// What the durable KEK flow's hierarchy activities run with (lib/hierarchy/durable*.ts): the branch
// keys and format-2 DEKs of the configured tables, the KEK port over the managed vaults, the trusted
// signing key, and how long one activity call may run. Built once by the composition root.
import type { TableClient } from "@azure/data-tables";
import type { Config } from "../config";
import { parseKeyId } from "../domain/keys";
import { kekFromVaults, type KekPort } from "../envelope/kek";
import { DekStore } from "../stores/dekStore";
import { tableClient } from "../stores/tables";
import type { VaultKeys } from "../vault/keyVault";
import { BranchKeys } from "./branchKeys";
import { BranchKeyStore } from "./branchKeyStore";
import { HierarchyDekStore } from "./dekStore";
import { vaultSigner } from "./signer";
import type { FlatDekAuth } from "../envelope/flatDekAuth";
import { flatDekAuthFrom } from "../orchestration/flatDekAuthFrom";

/** Key Vault's lowest documented per-vault limit for unwrap (RSA-4096 HSM: 250 per 10 s). The
 * hierarchy spends few remote calls (2 per branch key), so it paces at the budget share of the
 * limit every key type allows, and the Pacer backs off on a 429 whatever the key type. */
const LOWEST_UNWRAP_LIMIT_PER_SEC = 25;

export interface HierarchyRuntime {
  /** Branch-key records: what the zero-reference counts read (always present). */
  store: BranchKeyStore;
  /** Absent while no signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID): nothing can be
   * opened or created, so a KEK flow that finds branch keys refuses to go on. */
  keys?: BranchKeys;
  deks: HierarchyDekStore;
  kek: KekPort;
  /** Format-1 DEKs (migration's source, part of the emergency's revoke proof). */
  flat?: DekStore;
  flatTable?: TableClient;
  /** How format-1 rows are authenticated before migration unwraps them (the settings' signing key
   * and KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE). */
  flatAuth?: FlatDekAuth;
  /** Wall time one activity call runs before it returns with more to do. */
  sliceMs: number;
  /** Remote calls per second one run may spend (0 = unpaced, in-memory vaults). */
  ratePerSec: number;
}

/** The runtime from settings, over the composition's vault adapters. */
export function hierarchyRuntimeFrom(cfg: Config, vaultFor: (vaultName: string) => VaultKeys): HierarchyRuntime {
  const store = new BranchKeyStore(tableClient(cfg, "branchKeys"));
  const kek = kekFromVaults(vaultFor);
  const signerId = cfg.KEYROTOR_BRANCH_SIGNING_KEY_ID;
  const keys = signerId
    ? new BranchKeys(store, kek, vaultSigner(signerId, vaultFor(parseKeyId(signerId, "KEYROTOR_BRANCH_SIGNING_KEY_ID").vault!)), { sharedBranches: cfg.KEYROTOR_BRANCH_KEYS_PER_KEK })
    : undefined;
  const flatTable = tableClient(cfg, "deks");
  return {
    store, ...(keys ? { keys } : {}), deks: new HierarchyDekStore(tableClient(cfg, "branchDeks")), kek,
    flat: new DekStore(flatTable), flatTable, flatAuth: flatDekAuthFrom(cfg, vaultFor),
    sliceMs: cfg.KEYROTOR_HIERARCHY_SLICE_SECONDS * 1000,
    ratePerSec: LOWEST_UNWRAP_LIMIT_PER_SEC * cfg.KEYROTOR_VAULT_BUDGET_FRACTION,
  };
}
