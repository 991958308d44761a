// What every port contract suite shares: which adapter a run is against. A suite is one function
// `<port>Contract(kind, adapter, fixture)` in test/contract/<port>Contract.ts; each port's
// <port>.contract.test.ts calls it once for the memory adapter the workflow tests use and once for
// the real one (Azurite, the Key Vault peer, the Service Bus peer). everyPort.test.ts holds that.
import type { PortName } from "../../lib/ports";

/** "memory": the adapter tests and the local host use; "real": the one production uses, against
 * the real service or its emulator. */
export type AdapterKind = "memory" | "real";

export function contractTitle(port: PortName, kind: AdapterKind, adapter: string): string {
  return `${port} port contract [${kind}]: ${adapter}`;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
