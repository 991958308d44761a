// Composition root of the API, the policy timer and the Event Grid trigger: apiServices(cfg) wires
// the real adapters (Table Storage, Key Vault, Service Bus); memoryApiServices() wires in-memory ones
// that share state with lib/orchestration's memory rotation deps, so a test (or the dev host) sees
// one inventory, one ledger, one vault and one event stream. The composition root (lib/compose.ts)
// calls them; handlers receive the result.
import { Duration } from "luxon";
import type { Config } from "../config";
import { createServiceBusEventPublisher, MemoryEventPublisher } from "../events";
import { MemoryNotificationHealthStore, type NotificationHealthStore } from "../events/healthStore";
import { TableNotificationHealthStore } from "../stores/notificationHealthStore";
import { createLedger, KeyVaultRotationAdapter, memoryRotationDeps, type MemoryRotationDeps } from "../orchestration/deps";
import { systemClock, type Clock } from "../ports";
import { ApprovalStore } from "../stores/approvals";
import { TableFenceStore } from "../stores/fenceStore";
import { MemoryAuditCheckpointStore, TableAuditCheckpointStore } from "../ledger/verifyCheckpoint";
import { MemoryEvidenceExportStore, TableEvidenceExportStore } from "../ledger/evidenceCheckpoint";
import { Inventory } from "../stores/inventory";
import { PolicyStore } from "../stores/policyStore";
import { TableDekPort } from "../orchestration/tableDeks";
import { ensureTable, tableClient } from "../stores/tables";
import { keyVaultsFor } from "../vault/keyVault";
import type { MemoryPolicyStore } from "../orchestration/memory";
import { MemoryApprovals } from "./memory";
import type { ApiLedger, ApiServices, ApiSettings, ComponentHealth } from "./ports";
import { flatDeksComponent } from "../orchestration/flatDekAuthFrom";

export const DEFAULT_DEK_CONCURRENCY = 8;

export function settingsFrom(cfg: Pick<Config, "KEYROTOR_VAULT_URLS" | "KEYROTOR_EMERGENCY_APPROVAL_WINDOW" | "KEYROTOR_LEDGER_RETENTION">): ApiSettings {
  return {
    managedVaults: new Set(cfg.KEYROTOR_VAULT_URLS.map((v) => v.name.toLowerCase())),
    approvalWindow: cfg.KEYROTOR_EMERGENCY_APPROVAL_WINDOW,
    ledgerRetention: cfg.KEYROTOR_LEDGER_RETENTION,
    dekConcurrency: DEFAULT_DEK_CONCURRENCY,
  };
}

export function approvalWindowMs(settings: ApiSettings): number {
  return Duration.fromISO(settings.approvalWindow).as("milliseconds");
}

async function probe(name: string, fn: () => Promise<unknown>): Promise<ComponentHealth> {
  try {
    await fn();
    return { status: "ok" };
  } catch (err) {
    return { status: "down", detail: `[keyrotor] [health] ${name}: ${(err as Error).message}`.slice(0, 300) };
  }
}

type ApiEventPublisher = ReturnType<typeof createServiceBusEventPublisher>["publisher"];

/** The Service Bus publisher the API and the rotation engine share (one sender per process).
 * Failures are recorded where every instance reads them: /api/health may run on another one. */
export function eventPublisherFor(cfg: Config, ledger: ApiLedger, clock: Clock = systemClock): ReturnType<typeof createServiceBusEventPublisher> {
  return createServiceBusEventPublisher(cfg, ledger, { clock, healthStore: new TableNotificationHealthStore(tableClient(cfg, "locks")) });
}

/** The real adapters from configuration. The ledger is built as the rotation engine builds it
 * (createLedger: sealed with the KEYROTOR_SEAL_KEY_ID key), so seals the API process writes verify
 * everywhere. `ledger`: a ledger built elsewhere (e.g. the local host's, with its file seal key),
 * which the event publisher then also records NotificationFailed in. */
export async function apiServices(cfg: Config, opts: { clock?: Clock; ledger?: ApiLedger; publisher?: ApiEventPublisher } = {}): Promise<ApiServices> {
  const clock = opts.clock ?? systemClock;
  const policies = new PolicyStore(tableClient(cfg, "policies"), () => clock.now());
  const inventoryTable = tableClient(cfg, "inventory");
  const ledger = opts.ledger ?? (await createLedger(cfg, { clock }));
  const publisher = opts.publisher ?? eventPublisherFor(cfg, ledger, clock).publisher;
  return {
    settings: settingsFrom(cfg),
    clock,
    inventory: new Inventory(inventoryTable, policies),
    policies,
    approvals: new ApprovalStore(tableClient(cfg, "approvals")),
    ledger,
    events: publisher,
    vault: new KeyVaultRotationAdapter(keyVaultsFor(cfg)),
    notificationHealth: () => publisher.sharedNotificationHealth(),
    probes: {
      tables: () => probe("tables", () => ensureTable(inventoryTable)),
      // Never silent about unauthenticated format-1 DEKs (docs/flat-dek-signatures.md): a warning,
      // not a degradation (an upgrade that still reads legacy DEKs is working as configured).
      flatDeks: () => Promise.resolve(flatDeksComponent(cfg)),
    },
    references: new TableDekPort(tableClient(cfg, "deks")),
    fences: new TableFenceStore(tableClient(cfg, "locks")),
    ledgerAudit: new TableAuditCheckpointStore(tableClient(cfg, "locks")),
    evidenceExports: new TableEvidenceExportStore(tableClient(cfg, "locks")),
  };
}

export interface MemoryApi {
  services: ApiServices;
  /** The rotation engine's deps over the same state. */
  rotation: MemoryRotationDeps;
  events: MemoryEventPublisher;
  policies: MemoryPolicyStore;
  approvals: MemoryApprovals;
}

/** In-memory adapters sharing state with memoryRotationDeps(). */
/** `notificationHealth`: the storage an instance shares with the others (two compositions handed
 * one store stand for two Flex instances over one storage account); a fresh one by default. */
export function memoryApiServices(opts: { clock?: Clock; vaults?: string[]; approvalWindow?: string; dekConcurrency?: number; notificationHealth?: NotificationHealthStore } = {}): MemoryApi {
  const clock = opts.clock ?? systemClock;
  const rotation = memoryRotationDeps({ clock });
  const healthStore = opts.notificationHealth ?? new MemoryNotificationHealthStore();
  const events = new MemoryEventPublisher(rotation.ledger, { clock, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, healthStore });
  rotation.events = events as unknown as MemoryRotationDeps["events"];
  // The rotation engine, the inventory and the API read one policy store.
  const policies = rotation.policies;
  const approvals = new MemoryApprovals();
  // The DEK fan-out plans which tenants are due from the same catalog the timer reads.
  rotation.schedulePolicies = () => policies.all();
  const services: ApiServices = {
    settings: {
      managedVaults: new Set((opts.vaults ?? ["demo-vault"]).map((v) => v.toLowerCase())),
      approvalWindow: opts.approvalWindow ?? "PT1H",
      ledgerRetention: "P7Y",
      dekConcurrency: opts.dekConcurrency ?? DEFAULT_DEK_CONCURRENCY,
    },
    clock,
    inventory: rotation.inventory,
    policies,
    approvals,
    ledger: rotation.ledger,
    events,
    vault: rotation.vault,
    notificationHealth: () => events.sharedNotificationHealth(),
    probes: {},
    references: rotation.deks,
    fences: rotation.fences,
    ledgerAudit: new MemoryAuditCheckpointStore(),
    evidenceExports: new MemoryEvidenceExportStore(() => clock.now()),
  };
  return { services, rotation, events, policies, approvals };
}
