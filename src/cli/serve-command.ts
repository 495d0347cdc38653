/**
 * `ringtrain serve --model DIR`: POST /predict answers predictions for raw rows over HTTP.
 *
 * Input is bounded before it is parsed: the body is read up to --max-body bytes (413 past that,
 * the connection is not left hanging), a request holds at most --max-batch rows (413), and every
 * malformed request gets a 4xx whose message says what was expected, never a 500: 400 bad JSON
 * or rows of the wrong size, 404 unknown path, 405 wrong method, 415 not JSON.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selectBackend } from '../compute';
import { RingtrainError } from '../core';
import { instancesFromJson } from '../data';
import { Predictor } from '../train';
import { intFlag, parseArgs, usage } from './args';
import { modelDirOf } from './model-commands';

/** 1 MiB: about 130 raw MNIST images as JSON numbers. */
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
export const DEFAULT_MAX_BATCH = 256;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) {
      reject(
        new HttpError(
          413,
          `request body of ${declared} bytes exceeds the limit of ${max} bytes: send fewer instances per request`,
        ),
      );
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > max) {
        reject(new HttpError(413, `request body exceeds the limit of ${max} bytes: send fewer instances per request`));
        req.destroy();
        return;
      }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export interface ServeOptions {
  predictor: Predictor;
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatch: number;
}

export async function startServer(o: ServeOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const p = o.predictor;
  const info = {
    task: p.preprocess.task,
    features: p.features,
    classes: p.preprocess.classes,
    classNames: p.preprocess.classNames,
    maxBatch: o.maxBatch,
    maxBodyBytes: o.maxBodyBytes,
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' || url.pathname === '/') {
      if (req.method !== 'GET') throw new HttpError(405, `${url.pathname} answers GET, got ${req.method}`);
      send(res, 200, { ok: true, model: info });
      return;
    }
    if (url.pathname !== '/predict') throw new HttpError(404, `no route ${url.pathname}: POST /predict, GET /healthz`);
    if (req.method !== 'POST')
      throw new HttpError(405, `/predict answers POST with {"instances": [[...], ...]}, got ${req.method}`);
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('application/json'))
      throw new HttpError(415, `content-type must be application/json, got '${type}'`);
    const body = await readBody(req, o.maxBodyBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `body is not valid JSON: ${(e as Error).message}`);
    }
    const rows = instancesFromJson(parsed, p.features, o.maxBatch);
    if (typeof rows === 'string') throw new HttpError(rows.includes('at most') ? 413 : 400, rows);
    send(res, 200, { predictions: p.predict(rows.x, rows.rows) });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) send(res, status, { error: e instanceof Error ? e.message : String(e) });
      // After a 413 the rest of the body is not read: close instead of keeping the socket.
      if (status === 413) res.once('finish', () => req.socket.destroy());
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new RingtrainError(
              'ADDRESS_IN_USE',
              `port ${o.port} on ${o.host} is already in use: pick another with --port, or 0 for any free port`,
            )
          : err,
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `ringtrain serve --model DIR [--host H] [--port P] [--max-body BYTES] [--max-batch N]` */
export async function serveCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['model', 'host', 'port', 'max-body', 'max-batch']);
  if (args.positional.length > 0) throw usage(`serve takes no positional arguments, got ${args.positional.join(' ')}`);
  const dir = modelDirOf(args.flags.get('model'), 'serve');
  await selectBackend('auto');
  const predictor = await Predictor.load(dir);
  const server = await startServer({
    predictor,
    host: args.flags.get('host') ?? '127.0.0.1',
    port: intFlag(args, 'port', 0, 65535) ?? 8080,
    maxBodyBytes: intFlag(args, 'max-body', 1, 1 << 30) ?? DEFAULT_MAX_BODY_BYTES,
    maxBatch: intFlag(args, 'max-batch', 1, 1 << 20) ?? DEFAULT_MAX_BATCH,
  });
  process.stdout.write(`ringtrain: serving ${dir} on ${server.url} (POST /predict, GET /healthz)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await server.close();
  predictor.dispose();
  return 0;
}
