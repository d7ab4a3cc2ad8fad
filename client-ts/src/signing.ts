/**
 * SigV4 for API Gateway's AWS_IAM routes, with the AWS SDK's own signer and credential chain.
 *
 * Unsigned for http://127.0.0.1 and http://localhost (the local stack); otherwise signed whenever the
 * AWS SDK's default chain finds credentials, as the Python client does.
 */

import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/config-resolver';
import { loadConfig } from '@smithy/node-config-provider';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

import type { Logger } from './log.js';

export const SERVICE = 'execute-api';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
// <api-id>.execute-api.<region>.amazonaws.com[.cn]
const API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

export type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/** True for the local stack: plain http on the loopback interface. */
export function isLocal(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && LOCAL_HOSTS.has(parsed.hostname);
}

/** The region of a default execute-api URL (null for a custom domain). */
export function regionFromUrl(url: string): string | null {
  return API_HOST.exec(new URL(url).hostname)?.[1] ?? null;
}

export interface Request {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Adds SigV4 headers to a request about to be sent. */
export class Signer {
  private readonly signer: SignatureV4;

  constructor(credentials: Credentials, region: string) {
    this.signer = new SignatureV4({ service: SERVICE, region, credentials, sha256: Sha256 });
  }

  async sign(request: Request): Promise<Record<string, string>> {
    const query: Record<string, string> = {};
    request.url.searchParams.forEach((value, name) => {
      query[name] = value;
    });
    const signed = await this.signer.sign({
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      ...(request.url.port ? { port: Number(request.url.port) } : {}),
      path: request.url.pathname,
      query,
      headers: { ...request.headers, host: request.url.host },
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    return signed.headers;
  }
}

export interface SigningOptions {
  /** true: always sign (credentials required); false: never; undefined: all but the local stack. */
  sign?: boolean | undefined;
  credentials?: Credentials | undefined;
  region?: string | undefined;
}

/** How to sign requests to `baseUrl`: null (unsigned) or a Signer. */
export async function signerFor(baseUrl: string, options: SigningOptions, logger: Logger): Promise<Signer | null> {
  if (options.sign === false || (options.sign === undefined && isLocal(baseUrl))) return null;
  let credentials = options.credentials;
  if (credentials === undefined) {
    const provider = defaultProvider();
    try {
      await provider(); // found now, or never: the chain's failure is the agent's misconfiguration
    } catch (error) {
      if (options.sign) throw new Error(`no AWS credentials found: ${(error as Error).message}`);
      logger.warn('no AWS credentials found: requests go unsigned', { url: baseUrl });
      return null;
    }
    credentials = provider;
  }
  const region = options.region ?? regionFromUrl(baseUrl) ?? (await configuredRegion());
  if (!region) throw new Error('cannot tell the region to sign for: pass region or set AWS_REGION');
  return new Signer(credentials, region);
}

/** The region as the AWS SDK finds it: AWS_REGION, then the shared config file's profile. */
export async function configuredRegion(): Promise<string | undefined> {
  try {
    return await loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS)();
  } catch {
    return undefined; // none configured
  }
}
