// OpenAPI details of the operator's routes (src/http/operator.ts, src/http/console.ts), built like
// openapi-docs.ts: each error response from the one error-code table.
import { errorResponses, json, withOperationIds } from "./openapi-docs.ts";

const obj = (properties: Record<string, object>, description?: string) => ({ type: "object", properties, ...(description ? { description } : {}) });
const str = (description?: string) => ({ type: "string", ...(description ? { description } : {}) });
const int = (description?: string) => ({ type: "integer", ...(description ? { description } : {}) });
const nullable = (schema: object) => ({ ...schema, nullable: true });
// Every admin route needs the token or a session; a state-changing one from a session, the Origin too.
const adminErrors = ["UNAUTHORIZED"] as const;
const adminChangeErrors = ["UNAUTHORIZED", "FORBIDDEN_ORIGIN"] as const;

const processView = obj({
  role: str("api, relay, consumer or storefront"),
  instance: str(),
  namespace: nullable(str()),
  version: str("package.json's version"),
  startedAt: str(),
  at: str("its last heartbeat"),
  status: { type: "string", enum: ["alive", "late", "dead"], description: "late: no beat for two intervals; dead: its heartbeat expired (listed for 10 min)" },
  leader: { type: "boolean", description: "the relay holding the outbox lock" },
  lag: nullable(obj({ total: int(), partitions: { type: "object", additionalProperties: { type: "integer" } }, at: str() }, "a consumer's lag in messages")),
  commitToCache: nullable(obj({ p99Ms: { type: "number" }, samples: int() })),
  cache: obj({ hits: int(), misses: int(), fillsApplied: int(), fillsRefused: int() }, "an api's or storefront's read path since it started"),
});

const operations = {
  replayList: {
    summary: "Recent replay jobs of every namespace, newest first",
    security: [{ bearer: [] }],
    responses: {
      200: { description: "The jobs (kept a week)", content: json(obj({ jobs: { type: "array", items: { $ref: "#/components/schemas/ReplayJob" } } })) },
      ...errorResponses(["VALIDATION_FAILED", ...adminErrors, "UNAVAILABLE"]),
    },
  },
  overview: {
    summary: "Processes, namespaces and the relay at a glance (the console's main view)",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: "Every process from its heartbeat; per namespace the hit ratio, fills refused, consumer lag and commit-to-cache p99; the relay's backlog",
        content: json(
          obj({
            at: str(),
            heartbeatIntervalMs: int(),
            processes: { type: "array", items: processView },
            namespaces: {
              type: "array",
              items: obj({
                namespace: str(),
                readers: int(),
                hits: int(),
                misses: int(),
                hitRatio: nullable({ type: "number" }),
                fillsRefused: int(),
                consumers: int(),
                lag: nullable(int()),
                commitToCacheP99Ms: nullable({ type: "number" }),
                lastAppliedAt: nullable(str()),
              }),
            },
            relay: obj({ leader: nullable(str()), backlogRows: nullable(int()), oldestAgeSeconds: nullable({ type: "number" }), error: nullable(str("why the backlog could not be read")) }),
          }),
        ),
      },
      ...errorResponses([...adminErrors, "UNAVAILABLE"]),
    },
  },
  productCache: {
    summary: "Where each namespace's cache stands for one product, against the event store",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description:
          "The events in order, the snapshot, and each namespace's entry (version, kind, TTL left) with its status: current, absent, other-epoch (written before a fence move: never served), behind, ahead, wrong or unreadable; `behind` lists the namespaces a repair (POST /admin/replay with the id) rewrites",
        content: json(
          obj({
            id: str(),
            version: int("the last event's version (0: no events)"),
            deleted: { type: "boolean" },
            snapshot: nullable(obj({ version: int(), deleted: { type: "boolean" } })),
            snapshotBehind: { type: "boolean" },
            events: { type: "array", items: { type: "object" } },
            namespaces: {
              type: "array",
              items: obj({
                namespace: str(),
                key: str(),
                status: { type: "string", enum: ["current", "absent", "other-epoch", "behind", "ahead", "wrong", "unreadable"] },
                needsRepair: { type: "boolean" },
                version: nullable(int()),
                kind: nullable({ type: "string", enum: ["p", "t", "m", "n"] }),
                epoch: nullable(str()),
                fenceEpoch: nullable(str()),
                ttlMs: nullable(int()),
                unreadable: str("the value's first 200 characters, when it does not decode"),
              }),
            },
            behind: { type: "array", items: str() },
          }),
        ),
      },
      ...errorResponses(["VALIDATION_FAILED", ...adminErrors, "UNAVAILABLE"]),
    },
  },
  deadLetters: {
    summary: "Dead letters: the count by reason and the latest ones",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: "As the consumers recorded them in Redis beside the dead-letter topic, since `since`",
        content: json(
          obj({
            counts: { type: "object", additionalProperties: { type: "integer" } },
            total: int(),
            latest: {
              type: "array",
              items: obj({ at: str(), group: str(), namespace: str(), reason: str(), detail: str(), source: str("topic/partition/offset"), topic: str(), key: nullable(str()), preview: str("the value's first 500 characters"), bytes: int() }),
            },
            since: nullable(str("when this Redis began to hold the view (it starts again after Redis lost its data; the dead-letter topic keeps every letter); null until a consumer marked it")),
          }),
        ),
      },
      ...errorResponses(["VALIDATION_FAILED", ...adminErrors, "UNAVAILABLE"]),
    },
  },
  redrive: {
    summary: "Send the dead letters back to the topic they came from: a relay runs kafka-tool redrive (503 when no relay takes the request within 10 s)",
    security: [{ bearer: [] }],
    responses: {
      200: { description: "Sent; the tool's report", content: json(obj({ output: str() })) },
      ...errorResponses(["VALIDATION_FAILED", ...adminChangeErrors, "UNAVAILABLE"]),
    },
  },
  login: {
    summary: "Console login: exchanges the admin token for a session cookie",
    responses: {
      204: { description: "Logged in: Set-Cookie catalog_console (HttpOnly, SameSite=Strict, signed, expiring)", headers: { "Set-Cookie": { schema: { type: "string" } } } },
      ...errorResponses(["VALIDATION_FAILED", "MALFORMED_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "UNAUTHORIZED", "FORBIDDEN_ORIGIN"]),
    },
  },
  logout: {
    summary: "Console logout: drops the session cookie",
    responses: { 204: { description: "Logged out" }, ...errorResponses(["FORBIDDEN_ORIGIN"]) },
  },
  consolePage: {
    summary: "The operator's console (HTML): the login form without a session",
    responses: { 200: { description: "The page", content: { "text/html": { schema: { type: "string" } } } }, ...errorResponses([]) },
  },
};

export const operatorDocs = withOperationIds(operations);
