// What the HTTP API, the policy timer and the Event Grid trigger need: the resource ports (defined
// once, in lib/ports.ts) and the durable client. apiServices(cfg) in services.ts wires the real
// adapters or the memory ones.
import type { BranchKeyAge } from "../domain/planner";
import type { LockState } from "../domain/rotation";
import type { BranchKeysScope } from "../orchestration/flows/types";
import type { RotationStarterClient } from "../orchestration/start";
import type { DekPort } from "../ports";
import type { ApprovalPort, Clock, EventPublisher, FenceStore, InventoryPort, LedgerEntry, PolicyPort, VaultReader, VerifiableLedger } from "../ports";
import type { NotificationHealth } from "../events";
import type { SealSigner } from "../ledger/seals";
import type { AuditCheckpointStore } from "../ledger/verifyCheckpoint";
import type { EvidenceExportStore } from "../ledger/evidenceCheckpoint";
export type { ApprovalPort, VaultReader } from "../ports";

/** The ledger with the reads the API serves (HashChainLedger fits). */
export interface ApiLedger extends VerifiableLedger {
  chainIds(): AsyncIterable<string>;
  byEntryId(keyId: string, entryId: string): Promise<LedgerEntry | undefined>;
  /** The seal key, which signs the evidence pack's manifest (lib/ledger/evidenceSeal.ts). */
  manifestSigner?(): Pick<SealSigner, "kid" | "alg" | "sign"> | undefined;
}

export interface ApiSettings {
  /** Lower-cased vault names of KEYROTOR_VAULT_URLS: events from other vaults are ignored. */
  managedVaults: ReadonlySet<string>;
  approvalWindow: string;
  ledgerRetention: string;
  /** Tenants whose DEKs one timer run rotates at once (the fan-out's concurrency). */
  dekConcurrency: number;
  /** How long a paged HTTP read (ledger verify, evidence) works before it answers 202 with a
   * continuation; default 200 s, under Azure's 230 s (lower it behind a front end that waits less). */
  httpBudgetMs?: number;
}

export interface ComponentHealth {
  status: "ok" | "degraded" | "down";
  detail?: string;
}

export interface ApiServices {
  settings: ApiSettings;
  clock: Clock;
  inventory: InventoryPort;
  policies: PolicyPort;
  approvals: ApprovalPort;
  ledger: ApiLedger;
  events: EventPublisher;
  vault: VaultReader;
  /** Delivery health of the event publisher (lib/events). */
  /** Read from storage shared by all instances where there is one (Flex runs HTTP apart from the rest). */
  notificationHealth(): NotificationHealth | Promise<NotificationHealth>;
  /** Extra component probes shown by /api/health (name → probe). */
  probes: Record<string, () => Promise<ComponentHealth>>;
  /** DEKs per KEK version (the DEK store's count). Optional: without it the policy timer leaves the
   * zero-reference proof to the retirement workflow alone. */
  references?: ReferenceCounter;
  /** The keys' fence rows (lib/orchestration/fence.ts): a hand-broken lock retires the old holder's
   * grant there, so its steps still in flight are refused at once. Optional: without it they are
   * refused from the key's next grant on. */
  fences?: FenceStore;
  /** The hourly ledger audit's checkpoint and last result, in storage every instance shares (the
   * timer pages through the ledger with it; /api/health shows the last result). Optional: without it
   * the audit verifies the whole ledger in one run and health shows no ledger verification. */
  ledgerAudit?: AuditCheckpointStore;
  /** The primary branch keys of a KEK and their ages, read by the policy timer and the plan for
   * policies with branchKeys.every. Optional: without the key hierarchy no KEK has branch keys. */
  branchKeys?: BranchKeyAges;
  /** Checks the branch keys a branch-key rotation names before it starts (a tenant without a branch
   * key, a branch id the KEK lacks, or a KEK without branch keys is a 4xx). Optional: without it the
   * rotation's first step refuses the same, after the 202. */
  branchScope?: BranchScopeCheck;
  /** Paged evidence exports' places and parts (lib/ledger/evidenceCheckpoint.ts), in storage every
   * instance shares. Optional: without it GET /api/evidence builds the pack in one call. */
  evidenceExports?: EvidenceExportStore;
}

/** A KEK's primary branch-key versions with their (signed) creation times. */
/** Throws InvalidRequestError when `scope` names a branch key `kekKeyId` does not have. */
export interface BranchScopeCheck {
  check(kekKeyId: string, scope: BranchKeysScope): Promise<void>;
}

export interface BranchKeyAges {
  primaries(kekKeyId: string): Promise<BranchKeyAge[]>;
}

/** DEKs per KEK version: the DEK port's counts. */
export type ReferenceCounter = Pick<DekPort, "countByKekVersion" | "countByKekVersionPage">;

/** The durable client as the API uses it: startRotation's needs plus what status reads show.
 * durable-functions' DurableClient fits. */
export interface RotationClient extends RotationStarterClient {
  getStatus(instanceId: string): Promise<DurableStatusView | undefined>;
  /** The keyLock entity's state for a key (undefined when the entity does not exist). Optional:
   * the policy timer reports locks held past their lease only where the client can read it. */
  readLockState?(keyId: string): Promise<LockState | undefined>;
  /** Signals the keyLock entity to clear the lock if `expectedOwner` still holds it (one-way: read
   * the state again to learn the outcome). Optional like readLockState; breaking a lock needs it. */
  forceReleaseLock?(keyId: string, expectedOwner: string, actor: string): Promise<void>;
  /** Terminates an orchestration instance (its sub-orchestrations keep running). Optional like
   * readLockState; breaking a running holder's lock needs it. */
  terminate?(instanceId: string, reason: string): Promise<void>;
  /** Ids of the instances not yet terminal whose id starts with `prefix`. */
  runningInstances?(prefix: string): Promise<string[]>;
}

export interface DurableStatusView {
  runtimeStatus?: string;
  customStatus?: unknown;
  output?: unknown;
  input?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}
