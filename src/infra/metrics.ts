// Prometheus metrics with prom-client: one registry per process, served over HTTP.
import { createServer, type Server } from "node:http";
import client from "prom-client";

export const { Counter, Gauge, Histogram, Registry } = client;

/** Seconds; from 1 ms (same-machine pipeline) to 10 s (a broker restart). */
export const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createRegistry(labels: Record<string, string>): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels(labels);
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/** Serves GET /metrics (and /healthz) on `port` (0: any free port); resolves with the port. */
export function serveMetrics(registry: client.Registry, port: number, host = "127.0.0.1"): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(await registry.metrics());
    } else if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}
