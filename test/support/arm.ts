// The ARM peer with one resource of each kind, and the connection the providers use to reach it.
import { startArmPeer, type ArmPeer } from "../../dev/peers/arm";
import { localArmPeerCredential, type ArmConnection } from "../../lib/secrets/arm";

export const SUB = "00000000-0000-4000-8000-00000000a12e";
export const RG = "rg-demo";

export async function startArmWithResources(): Promise<ArmPeer> {
  const peer = await startArmPeer();
  peer.addStorageAccount(SUB, RG, "demostore");
  peer.addServiceBusRule(SUB, RG, "demo-bus", "app-send");
  peer.addServiceBusRule(SUB, RG, "demo-bus", "orders-listen", { queue: "orders" });
  peer.addCosmosAccount(SUB, RG, "demo-cosmos");
  return peer;
}

export function armConnection(peer: ArmPeer): ArmConnection {
  return { credential: localArmPeerCredential, endpoint: peer.url, ca: peer.caPem };
}

export const resourceIds = {
  storage: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/demostore`,
  serviceBus: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/demo-bus/authorizationRules/app-send`,
  serviceBusQueue: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/demo-bus/queues/orders/authorizationRules/orders-listen`,
  cosmos: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DocumentDB/databaseAccounts/demo-cosmos`,
};
