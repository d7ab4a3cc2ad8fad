/**
 * swaig-session-client: `@signalwire/sdk` agents on the SWAIG session service.
 *
 *     import { RemoteSessionManager } from 'swaig-session-client';
 *     const manager = await RemoteSessionManager.connect(apiUrl, { secretArn });
 *     manager.install(agent);
 */

export { adoptSignalWireCallId } from './agent.js';
export { SessionServiceError } from './errors.js';
export { type SigningKeys, StaticKeys } from './keys.js';
export * as limits from './limits.js';
export type { Logger } from './log.js';
export {
  type ConnectOptions,
  type Connection,
  type ManagerOptions,
  type ManagerStats,
  RemoteSessionManager,
} from './manager.js';
export type { Credentials } from './signing.js';
export * as tokens from './tokens.js';
export type { DebugTokenResult, TokenCheck } from './tokens.js';
