/** Where the client reports what it cannot tell its caller: background failures, key refreshes. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const PREFIX = 'swaig-session-client';

function line(message: string, fields?: Record<string, unknown>): string {
  return fields && Object.keys(fields).length ? `${PREFIX}: ${message} ${JSON.stringify(fields)}` : `${PREFIX}: ${message}`;
}

/** Warnings and errors on stderr; debug and info are dropped unless a logger of one's own is given. */
export const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (message, fields) => console.warn(line(message, fields)),
  error: (message, fields) => console.error(line(message, fields)),
};
