// The local host's composition root: one ledger (with a seal key kept under the state directory, so
// seals made before a restart still verify after it) shared by the HTTP API, the policy timer, the
// Event Grid trigger and the rotation activities, over the real adapters the settings point at
// (Table Storage, Key Vault, Service Bus). Installed before the host loads the functions.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { apiServices, setApiServices } from "../../lib/api/services";
import type { Config } from "../../lib/config";
import { nodeSealSigner, tableLedger, type HashChainLedger, type SealSigner } from "../../lib/ledger";
import { createRotationDeps, setRotationDeps, type RotationDeps } from "../../lib/orchestration/deps";
import { realRewrapDeps, setRewrapDeps } from "../../lib/orchestration/rewrap";
import { ensureTable, tableClient } from "../../lib/stores/tables";
import type { ApiServices } from "../../lib/api/ports";

export const LOCAL_SEAL_KID = "local:keyrotor-dev-seal";

/** The local seal key: created once (EC P-256) and kept in the state directory. */
export function localSealSigner(stateDir: string): SealSigner {
  const file = path.join(stateDir, "ledger-seal-key.pem");
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(readFileSync(file, "utf8"));
  // What auditors get: verifying seals and evidence packs needs only the public key, never this file.
  const publicFile = localSealPublicKeyFile(stateDir);
  if (!existsSync(publicFile)) writeFileSync(publicFile, createPublicKey(privateKey).export({ type: "spki", format: "pem" }), { mode: 0o644 });
  return nodeSealSigner({ kid: LOCAL_SEAL_KID, privateKey });
}

/** The local seal key's public half, beside the private key: the file to hand an auditor. */
export const localSealPublicKeyFile = (stateDir: string): string => path.join(stateDir, "ledger-seal-key.pub.pem");

export interface LocalApp {
  services: ApiServices;
  rotation: RotationDeps;
  ledger: HashChainLedger;
}

/** Builds and installs the services the functions use (setApiServices, setRotationDeps). */
export async function installLocalApp(cfg: Config, stateDir: string, log: (line: string) => void): Promise<LocalApp> {
  const signer = localSealSigner(stateDir);
  const ledger = tableLedger({
    entries: await ensureTable(tableClient(cfg, "ledger")),
    seals: await ensureTable(tableClient(cfg, "seals")),
    signer,
  });
  // Passing the ledger in: the API's event publisher records NotificationFailed in this one too.
  const services: ApiServices = await apiServices(cfg, { ledger });
  // The engine's own adapters from configuration (lib/orchestration/deps.ts), sharing this ledger
  // (and so its seal key) and the API's event publisher.
  const rotation = await createRotationDeps(cfg, { ledger, sealer: ledger, events: services.events, log });
  setApiServices(services);
  setRotationDeps(rotation);
  setRewrapDeps(realRewrapDeps(cfg));
  return { services, rotation, ledger };
}
