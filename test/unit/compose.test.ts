// No Docker engine runs on these machines, so docker-compose.yml is held to the code here: every
// service's environment, ports and commands must agree with the configuration the code reads.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfig, loadConsumerConfig, loadRelayConfig, loadStorefrontConfig, type Env } from "../../src/config.ts";
import { ROOT } from "../support/processes.ts";

type Service = {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  volumes?: string[];
};
const compose = Bun.YAML.parse(await Bun.file(resolve(ROOT, "docker-compose.yml")).text()) as { services: Record<string, Service> };
const services = compose.services;

const SECRETS = { POSTGRES_PASSWORD: "compose-test-password", ADMIN_TOKEN: "compose-test-admin-token", GRAFANA_ADMIN_PASSWORD: "compose-test-grafana" };
/** `${NAME:?message}` as docker compose interpolates it, with test values for the secrets. */
const interpolate = (env: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => SECRETS[name as keyof typeof SECRETS])]));

/** Runs a config loader and records which variables it read. */
function reads<T>(load: (env: Env) => T, env: Record<string, string>): { config: T; read: Set<string> } {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return target[key as string];
    },
  });
  return { config: load(proxy), read };
}

const loaders: Record<string, { load: (env: Env) => unknown; command: string[] }> = {
  api: { load: loadConfig, command: ["bun", "src/main.ts"] },
  relay: { load: loadRelayConfig, command: ["node", "relay/main.ts"] },
  storefront: { load: loadStorefrontConfig, command: ["bun", "storefront/main.ts"] },
  "consumer-catalog": { load: loadConsumerConfig, command: ["node", "consumers/consumer.ts"] },
  "consumer-storefront": { load: loadConsumerConfig, command: ["node", "consumers/consumer.ts"] },
};
const portOf = (url: string) => Number(new URL(url).port);
const healthPort = (s: Service) => Number(/127\.0\.0\.1:(\d+)/.exec(s.healthcheck!.test.join(" "))![1]);
const published = (s: Service) => (s.ports ?? []).map((p) => Number(p.split(":").at(-1)));

describe("docker-compose.yml", () => {
  test.each(Object.keys(loaders))("%s: every variable is one the code reads, and the values parse", (name) => {
    const s = services[name]!;
    const env = interpolate(s.environment);
    const { read } = reads(loaders[name]!.load, env);
    expect(Object.keys(env).filter((k) => !read.has(k))).toEqual([]);
  });

  test.each(Object.keys(loaders))("%s: runs the right entry point from an image that has it", (name) => {
    const s = services[name]!;
    expect(s.command).toEqual(loaders[name]!.command);
    expect(existsSync(resolve(ROOT, (s.command as string[])[1]!))).toBe(true);
    const dockerfile = resolve(ROOT, s.build!.dockerfile);
    expect(existsSync(dockerfile)).toBe(true);
    const text = require("node:fs").readFileSync(dockerfile, "utf8") as string;
    expect(text).toContain(`FROM ${(s.command as string[])[0] === "bun" ? "oven/bun:1.4.5" : "node:24"}`);
  });

  test("the api listens where its port mapping and health check look, on all interfaces", () => {
    const { config } = reads(loadConfig, interpolate(services.api!.environment));
    expect(config.host).toBe("0.0.0.0");
    expect(published(services.api!)).toEqual([config.port]);
    expect(healthPort(services.api!)).toBe(config.port);
    expect(config.env).toBe("production");
  });

  test("the storefront listens where its port mapping and health check look, reads the api's service and its own namespace", () => {
    const { config } = reads(loadStorefrontConfig, interpolate(services.storefront!.environment));
    const api = reads(loadConfig, interpolate(services.api!.environment)).config;
    expect(config.host).toBe("0.0.0.0");
    expect(published(services.storefront!)).toEqual([config.port]);
    expect(healthPort(services.storefront!)).toBe(config.port);
    expect([new URL(config.catalogUrl).hostname, portOf(config.catalogUrl)]).toEqual(["api", api.port]);
    expect(new URL(config.redisUrl).hostname).toBe("redis");
    const evict = reads(loadConsumerConfig, interpolate(services["consumer-storefront"]!.environment)).config;
    expect([config.cache.namespace, config.cache.keyPrefix]).toEqual([evict.namespace, evict.cache.keyPrefix]);
    expect(readFileSync(resolve(ROOT, services.storefront!.build!.dockerfile), "utf8")).toContain("COPY storefront storefront");
  });

  test.each(["relay", "consumer-catalog", "consumer-storefront"])("%s serves metrics where its port mapping and health check look", (name) => {
    const s = services[name]!;
    const { config } = reads(loaders[name]!.load, interpolate(s.environment)) as { config: { metricsPort: number; metricsHost: string } };
    expect(config.metricsHost).toBe("0.0.0.0");
    expect(published(s)).toEqual([config.metricsPort]);
    expect(healthPort(s)).toBe(config.metricsPort);
  });

  test("every connection string names a service of this file, with matching credentials and ports", () => {
    const api = reads(loadConfig, interpolate(services.api!.environment)).config;
    const relay = reads(loadRelayConfig, interpolate(services.relay!.environment)).config;
    const pg = services.postgres!.environment!;
    for (const url of [api.databaseUrl, relay.databaseUrl, interpolate(services.migrate!.environment).DATABASE_URL!]) {
      const u = new URL(url);
      expect([u.hostname, portOf(url), u.username, u.password, u.pathname.slice(1)]).toEqual([
        "postgres",
        5432,
        pg.POSTGRES_USER ?? "",
        SECRETS.POSTGRES_PASSWORD,
        pg.POSTGRES_DB ?? "",
      ]);
    }
    const advertised = services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS!.replace("PLAINTEXT://", "");
    for (const name of ["relay", "consumer-catalog", "consumer-storefront"]) {
      const c = reads(loaders[name]!.load, interpolate(services[name]!.environment)).config as { brokers: string[] };
      expect(c.brokers).toEqual([advertised]);
    }
    for (const name of ["consumer-catalog", "consumer-storefront"]) {
      expect(new URL(reads(loadConsumerConfig, interpolate(services[name]!.environment)).config.redisUrl).hostname).toBe("redis");
    }
    expect(new URL(api.redisUrl).hostname).toBe("redis");
  });

  test("the topics the processes use are the ones the one-shot service creates", () => {
    const created = [...String(services["kafka-topics"]!.command).matchAll(/--topic (\S+)/g)].map((m) => m[1]);
    const consumer = reads(loadConsumerConfig, interpolate(services["consumer-catalog"]!.environment)).config;
    const relay = reads(loadRelayConfig, interpolate(services.relay!.environment)).config;
    expect(created.sort()).toEqual([consumer.dlqTopic, consumer.topic].sort());
    expect(relay.topic).toBe(consumer.topic);
  });

  test("the relay, which carries out the console's re-drives, meets the api's requests (its key prefix) and reads the consumers' dead-letter topic with the script its image holds", () => {
    const api = reads(loadConfig, interpolate(services.api!.environment)).config;
    const relay = reads(loadRelayConfig, interpolate(services.relay!.environment)).config;
    const consumer = reads(loadConsumerConfig, interpolate(services["consumer-catalog"]!.environment)).config;
    expect([relay.keyPrefix, new URL(relay.redisUrl).host]).toEqual([api.cache.keyPrefix, new URL(api.redisUrl).host]);
    expect(relay.dlqTopic).toBe(consumer.dlqTopic);
    // src/infra/kafka-tool-runner.ts runs scripts/kafka-tool.ts, which imports scripts/lib/help.ts.
    const image = readFileSync("docker/node.Dockerfile", "utf8");
    expect(image).toMatch(/^COPY scripts\/kafka-tool\.ts scripts\/$/m);
    expect(image).toMatch(/^COPY scripts\/lib\/help\.ts scripts\/lib\/$/m);
  });

  test("the consumers keep the api's namespace and key prefix, one group and instance each, one per mode", () => {
    const api = reads(loadConfig, interpolate(services.api!.environment)).config;
    const consumers = ["consumer-catalog", "consumer-storefront"].map((n) => reads(loadConsumerConfig, interpolate(services[n]!.environment)).config);
    expect(consumers.map((c) => [c.namespace, c.mode])).toEqual([[api.cache.namespace, "rebuild"], ["storefront", "evict"]]);
    expect(consumers.every((c) => c.cache.keyPrefix === api.cache.keyPrefix)).toBe(true);
    expect(new Set(consumers.map((c) => c.groupId)).size).toBe(2);
    expect(new Set(consumers.map((c) => c.instanceId)).size).toBe(2);
  });

  test("dependencies name existing services, wait for health where a health check exists, and for one-shot jobs to finish", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = services[dep];
        expect({ name, dep, exists: !!target }).toEqual({ name, dep, exists: true });
        if (condition === "service_healthy") expect({ dep, healthcheck: !!target!.healthcheck }).toEqual({ dep, healthcheck: true });
        else expect({ dep, condition, restart: target!.restart }).toEqual({ dep, condition: "service_completed_successfully", restart: "no" });
      }
    }
    expect(Object.keys(services.api!.depends_on!)).toEqual(expect.arrayContaining(["migrate", "redis"]));
    expect(Object.keys(services.relay!.depends_on!)).toEqual(expect.arrayContaining(["migrate", "kafka-topics"]));
  });

  test("secrets come from the environment, never from the file", () => {
    const text = require("node:fs").readFileSync(resolve(ROOT, "docker-compose.yml"), "utf8") as string;
    expect(services.api!.environment!.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    expect(services.postgres!.environment!.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(services.grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
    expect(text).not.toMatch(/^\s*[A-Z_]*(PASSWORD|TOKEN|SECRET):\s*[^$\s]/m);
  });

  test("the official images are used for the servers", () => {
    expect([services.postgres!.image, services.redis!.image, services.kafka!.image]).toEqual(["postgres:15", "redis:7", "apache/kafka:4.0.0"]);
  });
});

/** host path → container path of a service's bind mounts (./… only). */
const mounts = (s: Service) =>
  new Map((s.volumes ?? []).filter((v) => v.startsWith("./")).map((v) => [resolve(ROOT, v.split(":")[0]!), v.split(":")[1]!] as const));

describe("docker-compose.yml: Prometheus and Grafana", () => {
  const prometheus = services.prometheus!;
  const grafana = services.grafana!;
  const promConfigPath = resolve(ROOT, "docs/prometheus/prometheus.yml");
  const promConfig = Bun.YAML.parse(readFileSync(promConfigPath, "utf8")) as { scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] };

  test("the official images", () => {
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d/);
    expect(grafana.image).toMatch(/^grafana\/grafana:\d/);
  });

  test("Prometheus reads docs/prometheus/prometheus.yml, and it scrapes every process that serves /metrics where compose runs it", () => {
    const target = mounts(prometheus).get(promConfigPath);
    expect(target).toBeDefined();
    expect(prometheus.command).toContain(`--config.file=${target}`);
    const scraped = promConfig.scrape_configs.flatMap((c) => c.static_configs.flatMap((sc) => sc.targets.map((t) => ({ job: c.job_name, path: c.metrics_path ?? "/metrics", t }))));
    const want = ["api", "storefront", "relay", "consumer-catalog", "consumer-storefront"].map((name) => {
      const { config } = reads(loaders[name]!.load, interpolate(services[name]!.environment)) as { config: { port?: number; metricsPort?: number; host?: string; metricsHost?: string } };
      expect(config.metricsHost ?? config.host).toBe("0.0.0.0");
      return { job: name, path: "/metrics", t: `${name}:${config.metricsPort ?? config.port}` };
    });
    expect(scraped).toEqual(want);
  });

  test("Grafana is provisioned with that Prometheus and the dashboard file", () => {
    const m = mounts(grafana);
    const datasources = m.get(resolve(ROOT, "docs/grafana/provisioning/datasources"));
    const providers = m.get(resolve(ROOT, "docs/grafana/provisioning/dashboards"));
    const dashboard = m.get(resolve(ROOT, "docs/grafana/catalog-cache.json"));
    expect([datasources, providers]).toEqual(["/etc/grafana/provisioning/datasources", "/etc/grafana/provisioning/dashboards"]);
    const ds = Bun.YAML.parse(readFileSync(resolve(ROOT, "docs/grafana/provisioning/datasources/prometheus.yml"), "utf8")) as { datasources: { type: string; url: string; isDefault: boolean }[] };
    const promPort = Number(prometheus.ports![0]!.split(":").at(-1));
    expect(ds.datasources).toEqual([expect.objectContaining({ type: "prometheus", url: `http://prometheus:${promPort}`, isDefault: true })]);
    const prov = Bun.YAML.parse(readFileSync(resolve(ROOT, "docs/grafana/provisioning/dashboards/catalog-cache.yml"), "utf8")) as { providers: { type: string; options: { path: string } }[] };
    expect(prov.providers.map((x) => x.type)).toEqual(["file"]);
    expect(dashboard).toBe(`${prov.providers[0]!.options.path}/catalog-cache.json`);
    expect(JSON.parse(readFileSync(resolve(ROOT, "docs/grafana/catalog-cache.json"), "utf8")).uid).toBe("catalog-cache");
    // Not on the api's host port.
    expect(published(grafana)).toEqual([3000]);
    expect(grafana.ports).not.toContain("3000:3000");
  });
});
