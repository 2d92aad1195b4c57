// Faults of the api's event store, switched per request by the test: PostgreSQL unreachable
// ("down"), a bug (any other error: "broken"), or every append losing the version race
// ("contended"). `wrap` is the harness's wrapStore.
import { ConcurrentAppendError, ServiceUnavailableError, type EventStore } from "../../src/usecases/ports.ts";

export type Fault = "none" | "down" | "broken" | "contended";

export function faultSwitch() {
  let fault: Fault = "none";
  const fail = () => {
    if (fault === "down") throw new ServiceUnavailableError("postgres", new Error("injected"));
    if (fault === "broken") throw new Error("injected fault");
  };
  return {
    set(f: Fault) {
      fault = f;
    },
    wrap(store: EventStore): EventStore {
      return {
        loadState: async (id) => (fail(), store.loadState(id)),
        loadStates: async (ids) => (fail(), store.loadStates(ids)),
        append: async (events, next, envelopes) => {
          fail();
          if (fault === "contended") throw new ConcurrentAppendError(next.id, events[0]!.version);
          return store.append(events, next, envelopes);
        },
        history: async (id) => (fail(), store.history(id)),
        ping: async () => (fail(), store.ping()),
      };
    },
  };
}
