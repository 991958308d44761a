// The local host's composition: the app's own compose() (lib/compose.ts) over the real adapters the
// settings point at (Table Storage, Key Vault, Service Bus), with one override: the ledger's seal
// key is kept under the state directory, so seals made before a restart still verify after it.
// The host hands it to the app at appStart (localAppHookData).
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { compose, COMPOSE_HOOK_DATA, type Composition, type ComposeOnStart } from "../../lib/compose";
import type { Config } from "../../lib/config";
import { nodeSealSigner, tableLedger, type HashChainLedger, type SealSigner } from "../../lib/ledger";
import { ensureTable, tableClient } from "../../lib/stores/tables";

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

export interface LocalApp extends Composition {
  ledger: HashChainLedger;
}

/** The app as `npm start` runs it: compose(cfg) with the local seal key's ledger. */
export async function composeLocalApp(cfg: Config, stateDir: string): Promise<LocalApp> {
  const ledger = tableLedger({
    entries: await ensureTable(tableClient(cfg, "ledger")),
    seals: await ensureTable(tableClient(cfg, "seals")),
    signer: localSealSigner(stateDir),
  });
  return { ...(await compose(cfg, { ledger })), ledger };
}

/** The app hook data that hands a composition to the function app at appStart. */
export function appHookDataFor(app: Composition): Record<string, unknown> {
  const onStart: ComposeOnStart = () => Promise.resolve(app);
  return { [COMPOSE_HOOK_DATA]: onStart };
}
