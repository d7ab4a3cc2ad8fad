/**
 * What install() does to an `@signalwire/sdk` AgentBase besides replacing its session manager,
 * without changing SDK code.
 */

import { isCallId } from './limits.js';

const ADOPTED = Symbol.for('swaig-session-client.adoptSignalWireCallId');

type Hook = (this: unknown, rawData: unknown, ...rest: unknown[]) => unknown;

/**
 * Hand the SDK the call id of SignalWire's SWML request. SignalWire posts `{"call": {"call_id": ...}}`;
 * the TypeScript SDK reads only a top-level `call_id` (the Python SDK reads both), so without this it
 * renders tokens for a fresh random id and the call's own SWAIG requests, which name the real call,
 * are refused. Wraps the agent's `onSwmlRequest` (called, with the parsed body, before the render
 * reads `call_id`) to copy `call.call_id` to `call_id` when only the former is there and it is a
 * call id by the service's rule. Idempotent; apply it after replacing `onSwmlRequest` if you do.
 */
export function adoptSignalWireCallId(agent: object): void {
  const target = agent as { onSwmlRequest?: unknown; [ADOPTED]?: Hook };
  const original = target.onSwmlRequest;
  if (typeof original !== 'function') {
    throw new TypeError('not an @signalwire/sdk AgentBase: it has no onSwmlRequest hook');
  }
  if (original === target[ADOPTED]) return;
  const hook: Hook = function (this: unknown, rawData: unknown, ...rest: unknown[]) {
    if (rawData !== null && typeof rawData === 'object' && !Array.isArray(rawData)) {
      const body = rawData as Record<string, unknown>;
      const call = body['call'];
      if (!body['call_id'] && call !== null && typeof call === 'object') {
        const id = (call as Record<string, unknown>)['call_id'];
        if (isCallId(id)) body['call_id'] = id;
      }
    }
    return (original as Hook).call(this, rawData, ...rest);
  };
  target.onSwmlRequest = hook;
  target[ADOPTED] = hook;
}
