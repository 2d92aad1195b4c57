// The HTTP contract (http-contract.ts) on a Redis Cluster: three masters, three replicas; the
// namespace's entries spread over every master, each bucket with its own fence.
import { httpContract } from "./http-contract.ts";

httpContract({ cluster: true });
