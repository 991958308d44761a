// `npm run peer:keyvault`: one Key Vault peer alone. PORT (default 8443; 0 = a free port),
// KEYVAULT_PEER_STATE (state file; default .keyrotor/keyvault-peer.json; "memory" = keep nothing),
// KEYVAULT_PEER_VAULT (vault name), KEYVAULT_PEER_WEBHOOK (Event Grid webhook URL).
import path from "node:path";
import { startKeyVaultPeer } from "./index";
import { watchLaunchers } from "../lifetime";
import { ensurePortFree } from "../ports";

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`[keyvault-peer] PORT must be a port number, got ${process.env.PORT}`);
  await ensurePortFree(port, "the Key Vault peer", "set PORT to a free port (0 picks one)");
  const stateSetting = process.env.KEYVAULT_PEER_STATE ?? path.resolve(".keyrotor", "keyvault-peer.json");
  const stateFile = stateSetting === "memory" || stateSetting === "" ? undefined : path.resolve(stateSetting);
  const peer = await startKeyVaultPeer({
    port,
    ...(stateFile ? { stateFile } : {}),
    ...(process.env.KEYVAULT_PEER_VAULT ? { vaultName: process.env.KEYVAULT_PEER_VAULT } : {}),
    ...(process.env.KEYVAULT_PEER_WEBHOOK ? { eventGridWebhook: process.env.KEYVAULT_PEER_WEBHOOK } : {}),
  });
  process.stdout.write(
    [
      `Key Vault peer "${peer.vaultName}" listening on ${peer.url}`,
      `  vault URL:   ${peer.url}   (KeyClient/SecretClient vaultUrl)`,
      `  CA file:     ${peer.caFile}   (trust it: tlsOptions: { ca }, or NODE_EXTRA_CA_CERTS=${peer.caFile})`,
      `  state:       ${stateFile ?? "in memory"}`,
      `  admin API:   ${peer.url}/admin/stats (faults, throttle, time, events: see dev/peers/keyvault/admin.ts)`,
      "  auth:        any bearer token is accepted (requests without one get Key Vault's 401 challenge)",
      "",
    ].join("\n"),
  );
  const shutdown = (): void => {
    peer.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  // Never outlive whatever started it (npm, a bench, a shell job): see dev/peers/lifetime.ts.
  watchLaunchers(shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`[keyvault-peer] failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
