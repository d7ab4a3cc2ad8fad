/** Raised when no verdict could be had: the service's error code (or the client's), message and HTTP status. */
export class SessionServiceError extends Error {
  override readonly name = 'SessionServiceError';

  constructor(
    readonly code: string,
    message: string,
    readonly status: number | null = null,
    /** The service's or gateway's Retry-After, in milliseconds, when it sent one. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(`${code}: ${message}`);
  }
}
