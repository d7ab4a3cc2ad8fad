/** One exchange with the service: codes, bounds, the breaker, SigV4. Against a stub HTTP server. */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { afterEach, describe, expect, it } from 'vitest';

import { consoleLogger } from '../src/log.js';
import { Signer, isLocal, regionFromUrl, signerFor } from '../src/signing.js';
import { Transport, type TransportOptions } from '../src/transport.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: Received, response: ServerResponse) => void;

const servers: Server[] = [];

async function stub(handler: Handler): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const seen = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body };
      received.push(seen);
      handler(seen, response);
    });
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stage`, received };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

function transport(url: string, options: Partial<TransportOptions> = {}): Transport {
  return new Transport(url, {
    signer: null,
    timeoutMs: 2000,
    maxAnswerBytes: 1024,
    breakerFailures: 3,
    breakerCoolDownMs: 60_000,
    ...options,
  });
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

describe('Transport', () => {
  it('sends JSON under the base path and reads the answer', async () => {
    const { url, received } = await stub((_, response) => json(response, 201, { call_id: 'c', expires_at: 1 }));
    const answer = await transport(url).send('POST', '/sessions', { call_id: 'c' });
    expect(answer).toEqual({ status: 201, body: { call_id: 'c', expires_at: 1 } });
    expect(received[0]).toMatchObject({ method: 'POST', url: '/stage/sessions', body: '{"call_id":"c"}' });
    expect(received[0]?.headers['content-type']).toBe('application/json');
    expect(received[0]?.headers['authorization']).toBeUndefined();
  });

  it("names the service's errors by their code, the gateway's by its own, anything else by its status", async () => {
    const answers: Array<[number, unknown, string]> = [
      [409, { error: 'session_ended', message: 'ended' }, 'session_ended'],
      [404, { message: 'Not Found' }, 'gateway_not_found'],
      [403, { message: 'Forbidden' }, 'gateway_forbidden'],
      [503, { message: 'Service Unavailable' }, 'gateway_unavailable'],
      [418, { message: 'teapot' }, 'gateway_418'],
      [502, 'Bad Gateway', 'http_502'],
      [302, {}, 'http_302'],
    ];
    for (const [status, body, code] of answers) {
      const { url } = await stub((_, response) => json(response, status, body, status === 302 ? { location: '/x' } : {}));
      await expect(transport(url).send('GET', '/sessions/c/metadata')).rejects.toMatchObject({ code, status });
    }
  });

  it('takes no verdict from a 2xx that is not a JSON object', async () => {
    for (const body of ['<html>proxy</html>', '[]', '{}']) {
      const { url } = await stub((_, response) => {
        response.writeHead(200);
        response.end(body);
      });
      await expect(transport(url).send('GET', '/x')).rejects.toMatchObject({ code: 'invalid_response', status: 200 });
    }
  });

  it('refuses an answer over its size bound, announced or streamed, without reading it whole', async () => {
    const big = JSON.stringify({ metadata: { x: 'y'.repeat(5000) } });
    const { url } = await stub((_, response) => json(response, 200, JSON.parse(big)));
    await expect(transport(url).send('GET', '/x')).rejects.toMatchObject({ code: 'invalid_response' });
    const streamed = await stub((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length announced
      for (let i = 0; i < 50; i++) response.write('x'.repeat(100));
      response.end();
    });
    await expect(transport(streamed.url).send('GET', '/x')).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('gives up on a service that never answers, and on one that is not there', async () => {
    const { url } = await stub(() => {}); // accepts, never answers
    await expect(transport(url, { timeoutMs: 200 }).send('GET', '/x')).rejects.toMatchObject({ code: 'timeout', status: null });
    const closed = await stub(() => {});
    const port = new URL(closed.url).port;
    await new Promise((done) => servers.pop()?.close(done));
    await expect(transport(`http://127.0.0.1:${port}`).send('GET', '/x')).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('reads Retry-After', async () => {
    const { url } = await stub((_, response) => json(response, 429, { message: 'Too Many Requests' }, { 'retry-after': '7' }));
    await expect(transport(url).send('GET', '/x')).rejects.toMatchObject({ code: 'gateway_throttled', retryAfterMs: 7000 });
  });

  it('fails fast after consecutive failures with no verdict, and a verdict is no failure', async () => {
    let status = 503;
    const { url, received } = await stub((_, response) => json(response, status, { error: 'service_unavailable', message: 'x' }));
    const t = transport(url, { breakerFailures: 3 });
    for (let i = 0; i < 3; i++) await expect(t.send('GET', '/x')).rejects.toMatchObject({ code: 'service_unavailable' });
    await expect(t.send('GET', '/x')).rejects.toMatchObject({ code: 'circuit_open' });
    expect(received).toHaveLength(3);
    expect(t.openFor()).toBeGreaterThan(0);

    status = 409;
    const fresh = transport(url, { breakerFailures: 2 });
    for (let i = 0; i < 5; i++) await expect(fresh.send('GET', '/x')).rejects.toMatchObject({ status: 409 });
    expect(fresh.openFor()).toBe(0);
  });
});

describe('SigV4', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };

  it('signs for execute-api in the region, and the signature is the one AWS would compute', async () => {
    const { url, received } = await stub((_, response) => json(response, 200, { valid: true }));
    await transport(url, { signer: new Signer(credentials, 'eu-west-1') }).send('POST', '/tokens/validate', { call_id: 'c' });
    const seen = received[0] as Received;
    const authorization = String(seen.headers['authorization']);
    const date = String(seen.headers['x-amz-date']);
    expect(authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/${date.slice(0, 8)}/eu-west-1/execute-api/aws4_request, SignedHeaders=`),
    );
    expect(seen.headers['x-amz-security-token']).toBe('session-token');
    // What API Gateway does: sign the request as received, at its x-amz-date, and compare.
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'content-type', 'x-amz-date']));
    const headers = Object.fromEntries(signedHeaders.map((name) => [name, String(seen.headers[name])]));
    const verifier = new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials, sha256: Sha256 });
    const target = new URL(seen.url, url);
    const expected = await verifier.sign(
      { method: seen.method, protocol: 'http:', hostname: target.hostname, port: Number(target.port), path: target.pathname, query: {}, headers, body: seen.body },
      { signingDate: new Date(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 11)}:${date.slice(11, 13)}:${date.slice(13)}`) },
    );
    expect(authorization).toBe(expected.headers['authorization']);
  });

  it('leaves the local stack unsigned and finds the region of an execute-api URL', async () => {
    expect(isLocal('http://127.0.0.1:3000')).toBe(true);
    expect(isLocal('http://localhost:3000/x')).toBe(true);
    expect(isLocal('https://127.0.0.1:3000')).toBe(false);
    expect(isLocal('http://example.com')).toBe(false);
    expect(regionFromUrl('https://abc123.execute-api.ap-south-1.amazonaws.com/prod')).toBe('ap-south-1');
    expect(regionFromUrl('https://api.example.com/prod')).toBeNull();
    expect(await signerFor('http://127.0.0.1:3000', { credentials }, consoleLogger)).toBeNull();
    expect(await signerFor('https://abc.execute-api.us-east-2.amazonaws.com/p', { sign: false }, consoleLogger)).toBeNull();
    const signer = await signerFor('https://abc.execute-api.us-east-2.amazonaws.com/p', { credentials }, consoleLogger);
    expect(signer).toBeInstanceOf(Signer);
    const signed = await signer!.sign({ method: 'GET', url: new URL('https://abc.execute-api.us-east-2.amazonaws.com/p/x'), headers: {}, body: undefined });
    expect(signed['authorization']).toContain('/us-east-2/execute-api/aws4_request');
  });
});
