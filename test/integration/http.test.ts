// The HTTP contract (http-contract.ts) on one Redis server.
import { httpContract } from "./http-contract.ts";

httpContract({ cluster: false });
