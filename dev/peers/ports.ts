// A stand-in must never answer with another process's state: an Azurite left over from an
// earlier run, or any other program on the same port, would silently serve old tables to a fresh
// start. So a start checks that each fixed port is free before it binds it, and refuses, naming
// the port and what to do, when something it did not start holds it.
import { createServer } from "node:net";

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    what: string,
    remedy: string,
  ) {
    super(
      `[keyrotor] [start] port ${port} on 127.0.0.1 (${what}) is already in use by a process this start did not launch ` +
        `(a stand-in left over from an earlier run, or another program); keyrotor will not use it. ` +
        `Find it with \`lsof -nP -iTCP:${port} -sTCP:LISTEN\` or \`ss -ltnp 'sport = :${port}'\` and stop it, or ${remedy}.`,
    );
    this.name = "PortInUseError";
  }
}

/**
 * Resolves when 127.0.0.1:`port` can be bound now (0 = any port: nothing to check); rejects with
 * a PortInUseError otherwise. A listener on 0.0.0.0 or [::] holds the port for 127.0.0.1 too.
 */
export async function ensurePortFree(port: number, what: string, remedy: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "EADDRINUSE" || err.code === "EACCES" ? new PortInUseError(port, what, remedy) : err);
    });
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => resolve()));
  });
}
