/**
 * The per-process HTTP endpoint: Prometheus scrapes /metrics, Kubernetes probes /healthz, and
 * callers may mount a few more read-only routes (the coordinator's status page). Plain
 * node:http: three routes do not justify a framework.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { RingtrainError } from '../core';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HealthReport {
  ok: boolean;
  detail: string;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks any free port; the chosen one is in the result. */
  port: number;
  /** Served on /metrics; several are concatenated, each with its own default labels. */
  registry: Registry | readonly Registry[];
  /** Reported on /healthz: 200 when ok, 503 otherwise. Absent means always healthy. */
  health?: () => HealthReport;
  /** Extra GET routes by exact path. /metrics and /healthz cannot be overridden. */
  routes?: Record<string, RouteHandler>;
}

export interface RunningHttpServer {
  /** The port actually bound (differs from the requested one when that was 0). */
  port: number;
  /** http://host:port, for logs and tests. */
  url: string;
  /** Stops listening and drops every open connection, busy or idle; safe to call twice. */
  close(): Promise<void>;
}

export function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      // A failing collect callback must not take the process down; the scrape shows it.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new RingtrainError(
            'ADDRESS_IN_USE',
            `metrics port ${opts.port} on ${opts.host} is already in use: pick another with ` +
              '--set observe.metricsPort=... or 0 for any free port',
          ),
        );
      } else {
        reject(err);
      }
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      const urlHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        url: `http://${urlHost}:${port}`,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // close() drops idle keep-alive sockets itself (Node >= 19) but waits for requests
            // in flight, e.g. a scrape stuck in a slow collect: shutdown must not hang on them.
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

async function handle(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return;
  }
  if (path === '/metrics') {
    const registries: readonly Registry[] = Array.isArray(opts.registry) ? opts.registry : [opts.registry as Registry];
    const bodies = await Promise.all(registries.map((r) => r.metrics()));
    res.writeHead(200, { 'content-type': registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(bodies.join(''));
    return;
  }
  if (path === '/healthz') {
    const report = opts.health ? opts.health() : { ok: true, detail: 'ok' };
    res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(report) + '\n');
    return;
  }
  const route = opts.routes?.[path];
  if (route) {
    route(req, res);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`not found: ${path}; try /metrics or /healthz\n`);
}
