// A Service Bus peer per test file, on a free loopback port, and real ServiceBusClients against it.
import { ServiceBusClient } from "@azure/service-bus";
import { startServiceBusPeer, type ServiceBusPeer, type ServiceBusPeerOptions } from "../../dev/peers/servicebus";

export type { ServiceBusPeer, ServiceBusPeerOptions };

/** Starts a peer (port 0 unless given). Stop it in afterAll. */
export function startTestServiceBus(opts: ServiceBusPeerOptions = {}): Promise<ServiceBusPeer> {
  return startServiceBusPeer({ port: 0, ...opts });
}

/** A real ServiceBusClient for the peer; quick retries so a refused operation fails fast. */
export function serviceBusClient(peer: ServiceBusPeer): ServiceBusClient {
  return new ServiceBusClient(peer.connectionString, { retryOptions: { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 10_000 } });
}
