// Which database errors mean "PostgreSQL is away" (503 UNAVAILABLE) rather than a bug (500).
import { expect, test } from "bun:test";
import { isUnavailable } from "../../src/infra/prisma-event-store.ts";

const adapterError = (kind: string) => Object.assign(new Error(kind), { name: "DriverAdapterError", cause: { kind } });

test.each([
  ["a closed connection from the driver adapter", adapterError("ConnectionClosed"), true],
  ["an unreachable server from the driver adapter", adapterError("DatabaseNotReachable"), true],
  ["a database that does not exist", adapterError("DatabaseDoesNotExist"), true],
  ["wrong credentials", adapterError("AuthenticationFailed"), true],
  ["a refused connection", new Error("connect ECONNREFUSED 127.0.0.1:5432"), true],
  ["a server shutting down", new Error("terminating connection due to administrator command"), true],
  ["a client that lost its connection", new Error("Client has encountered a connection error and is not queryable"), true],
  ["a unique violation", adapterError("UniqueConstraintViolation"), false],
  ["a programming error", new TypeError("x is undefined"), false],
])("%s → unavailable: %p", (_what, err, expected) => {
  expect(isUnavailable(err)).toBe(expected);
});
