// Azurite with its Blob, Queue and Table services (DurableTask.AzureStorage needs all three), in
// memory on free loopback ports, as a child of this process.
import { spawn } from "node:child_process";
import path from "node:path";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY, freePort } from "../../peers/azurite/launcher";

export interface AzuriteAll {
  readonly connectionString: string;
  readonly tableUrl: string;
  stop(): Promise<void>;
}

export async function startAzuriteAll(timeoutMs = 30_000): Promise<AzuriteAll> {
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  const main = path.join(path.dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
  const args = [main, "--blobHost", "127.0.0.1", "--blobPort", String(blob), "--queueHost", "127.0.0.1", "--queuePort", String(queue),
    "--tableHost", "127.0.0.1", "--tablePort", String(table), "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose"];
  // Azurite exits when this process is gone (a killed test worker must not leave it running): the
  // wrapper polls its parent pid, then requires Azurite's entry point in the same process.
  const guard = "const p=Number(process.argv[1]);process.argv.splice(1,1);setInterval(()=>{if(process.ppid!==p)process.exit(0)},500).unref();require(process.argv[1]);";
  const child = spawn(process.execPath, ["-e", guard, String(process.pid), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => { child.kill("SIGKILL"); reject(err); };
    const timer = setTimeout(() => fail(new Error(`[keyrotor] [durable-runtime] Azurite not started after ${timeoutMs} ms: ${out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if ((out.match(/successfully (started|listening)/g) ?? []).length >= 3) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`[keyrotor] [durable-runtime] Azurite exited with ${code}: ${out}`)); });
  });
  child.stdout.resume();
  child.stderr.resume();
  const ep = (port: number): string => `http://127.0.0.1:${port}/${DEVSTORE_ACCOUNT}`;
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEVSTORE_ACCOUNT};AccountKey=${DEVSTORE_KEY};BlobEndpoint=${ep(blob)};QueueEndpoint=${ep(queue)};TableEndpoint=${ep(table)};`,
    tableUrl: ep(table),
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    }),
  };
}
