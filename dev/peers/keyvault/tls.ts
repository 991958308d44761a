// A self-signed certificate for 127.0.0.1/localhost, made at start. Clients trust it through
// tlsOptions.ca (or the CA file); nothing turns TLS verification off. With a state file the
// certificate is kept next to it so a restarted peer keeps the CA clients already trust.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generate } from "selfsigned";

export interface PeerTls {
  key: string;
  cert: string;
  caFile: string;
  /** Directory to remove on stop (only for temporary CA files). */
  tempDir?: string;
}

async function fresh(): Promise<{ key: string; cert: string }> {
  const now = Date.now();
  const pems = await generate([{ name: "commonName", value: "keyvault-peer.localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - 86_400_000),
    notAfterDate: new Date(now + 5 * 365 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", digitalSignature: true, keyCertSign: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export async function peerTls(stateFile?: string): Promise<PeerTls> {
  if (stateFile) {
    const tlsFile = `${stateFile}.tls.json`;
    const caFile = `${stateFile}.ca.pem`;
    mkdirSync(path.dirname(stateFile), { recursive: true });
    let pair: { key: string; cert: string } | undefined;
    if (existsSync(tlsFile)) {
      pair = JSON.parse(readFileSync(tlsFile, "utf8")) as { key: string; cert: string };
    } else {
      pair = await fresh();
      writeFileSync(tlsFile, JSON.stringify(pair), { mode: 0o600 });
    }
    writeFileSync(caFile, pair.cert);
    return { ...pair, caFile };
  }
  const pair = await fresh();
  const tempDir = mkdtempSync(path.join(tmpdir(), "keyvault-peer-"));
  const caFile = path.join(tempDir, "ca.pem");
  writeFileSync(caFile, pair.cert);
  return { ...pair, caFile, tempDir };
}
