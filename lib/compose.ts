// The composition root: every adapter the app uses, built once from configuration. The function
// app builds it in its appStart hook (functions/_app.ts) and closes it in appTerminate; the local
// host, `npm start`, the benches and the tests call the same compose() with overrides, so no
// process runs a wiring production does not.
import { apiServices, eventPublisherFor, memoryApiServices, type MemoryApi } from "./api/services";
import type { ApiServices } from "./api/ports";
import type { Config } from "./config";
import type { HashChainLedger } from "./ledger";
import { createLedger, createRotationDeps, type ConfiguredRotationDeps, type RotationDeps, type RotationDepsOverrides } from "./orchestration/deps";
import { fromRotationDeps, realRewrapDeps, type RewrapDeps } from "./orchestration/rewrap/deps";
import { hierarchyRuntimeFrom, type HierarchyRuntime } from "./hierarchy/durableRuntime";
import { branchKeyAges } from "./hierarchy/branchKeyAges";
import { flatDekAuthWarning } from "./orchestration/flatDekAuthFrom";
import { createLogger } from "./telemetry/log";
import { branchScopeCheck } from "./hierarchy/durableActivities";
import { keyVaultsFor } from "./vault/keyVault";

/** What function handlers receive: the API's services, the rotation activities' and the rewrap's. */
export interface Composition {
  api: ApiServices;
  rotation: RotationDeps;
  rewrap: RewrapDeps;
  /** The key hierarchy (branch keys, format-2 DEKs): from the settings; absent over memory adapters. */
  hierarchy?: HierarchyRuntime;
  /** Releases what the adapters hold open (the Service Bus sender and client). */
  close(): Promise<void>;
}

export interface CompositionOverrides {
  /** A ledger built elsewhere (the local host's, sealed with its file key); the one ledger of the app. */
  ledger?: HashChainLedger;
  rotation?: Omit<RotationDepsOverrides, "ledger">;
  rewrap?: Partial<RewrapDeps>;
  hierarchy?: Partial<HierarchyRuntime>;
}

/** The app from configuration: one ledger, one event publisher, shared by the API and the rotation
 * engine; the rewrap over the DEK table and Key Vault with the SDK's retries off (every 429 reaches
 * its pacing), the configured budget share and batch size. */
export async function compose(cfg: Config, o: CompositionOverrides = {}): Promise<Composition & { rotation: ConfiguredRotationDeps }> {
  const ledger = o.ledger ?? (await createLedger(cfg));
  const bus = o.rotation?.events ? undefined : eventPublisherFor(cfg, ledger);
  const api = await apiServices(cfg, { ledger, ...(bus ? { publisher: bus.publisher } : {}) });
  const events = o.rotation?.events ?? bus!.publisher;
  const rotation = await createRotationDeps(cfg, { ledger, sealer: ledger, events, ...o.rotation });
  const rewrap: RewrapDeps = { ...realRewrapDeps(cfg), fences: rotation.fences, ...o.rewrap };
  // The hierarchy's tables and signing key from the settings, over the configured vaults.
  const hierarchy: HierarchyRuntime = { ...hierarchyRuntimeFrom(cfg, keyVaultsFor(cfg)), ...o.hierarchy };
  // Format-1 DEKs not fully authenticated: said at start (and on /api/health), never silently.
  const flatWarning = flatDekAuthWarning(cfg);
  if (flatWarning) createLogger("envelope").warn(flatWarning.message, { errorCode: flatWarning.code });
  // The policy timer and the plan read the branch keys' ages for the branch-key schedule.
  api.branchKeys ??= branchKeyAges(hierarchy.store);
  // A branch-key rotation's named tenants or branch ids are checked before it starts.
  api.branchScope ??= branchScopeCheck(hierarchy.store);
  return { api, rotation, rewrap, hierarchy, close: async () => { await bus?.close(); await rotation.close(); } };
}

/** The app over in-memory adapters (tests, the memory host): the API and the rotation engine share
 * one state; the rewrap reads the DEKs through the rotation ports, unpaced (an in-memory vault has
 * no Key Vault limits). */
export function composeMemory(mem: MemoryApi = memoryApiServices(), o: { rotation?: Partial<RotationDeps>; rewrap?: Partial<RewrapDeps> } = {}): Composition & { mem: MemoryApi } {
  const rotation: RotationDeps = { ...mem.rotation, ...o.rotation };
  return { mem, api: mem.services, rotation, rewrap: { ...fromRotationDeps(rotation, { vaultLimitPer10s: 0 }), ...o.rewrap }, close: () => Promise.resolve() };
}

/** Activity dependencies over rotation ports alone (the workflow tests' driver): the rewrap reads
 * through them, unpaced. */
export function overPorts(rotation: RotationDeps): Pick<Composition, "rotation" | "rewrap"> {
  return { rotation, rewrap: fromRotationDeps(rotation, { vaultLimitPer10s: 0 }) };
}

/** The key of the app hook data under which a host hands the function app its own composition
 * (a function returning it); without one the app composes from configuration. */
export const COMPOSE_HOOK_DATA = "keyrotor.compose";
export type ComposeOnStart = () => Promise<Composition>;
