// The event publisher contract (test/integration/events/publisherContract.ts) against the memory
// publisher the workflow tests use (MemoryEvents). The Service Bus publisher runs the same suite
// against the Service Bus peer in test/integration/events/publisher.contract.test.ts.
import { describePublisherContract } from "../integration/events/publisherContract";
import { MemoryEvents } from "../../lib/orchestration/memory";

const fastRetry = { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 }, log: () => {} };

describePublisherContract("memory (MemoryEvents, what the workflow tests publish through)", {
  async working(ledger) {
    const publisher = new MemoryEvents(ledger, fastRetry);
    let read = 0;
    return {
      publisher,
      receive: async (n) => {
        const out = publisher.messages.slice(read, read + n);
        read += out.length;
        return out;
      },
      close: async () => {},
    };
  },
  async broken(ledger) {
    return { publisher: new MemoryEvents(ledger, { ...fastRetry, fault: () => Object.assign(new Error("bus unreachable"), { code: "ServiceCommunicationProblem" }) }), close: async () => {} };
  },
});
