/** Connection settings from a source or sink config, checked once at load. */
import type { ConfigIssue } from '../../src/core/errors.js';
import { durationOption } from '../../src/core/duration.js';
import type { ConnectionConfig } from './config.js';
import { DEFAULTS } from './config.js';
import { connectionUrl, type ConnectionSettings, type Role } from './connection.js';

export function connectionSettings(config: ConnectionConfig, role: Role, report: (issue: ConfigIssue) => void): ConnectionSettings {
  const heartbeatMs = durationOption(config.heartbeat, DEFAULTS.heartbeat, ['heartbeat'], report);
  const reconnectInitialMs = Math.max(1, durationOption(config.reconnect?.initial, DEFAULTS.reconnectInitial, ['reconnect', 'initial'], report));
  const reconnectMaxMs = durationOption(config.reconnect?.max, DEFAULTS.reconnectMax, ['reconnect', 'max'], report);
  if (reconnectMaxMs < reconnectInitialMs) report({ path: ['reconnect', 'max'], message: 'reconnect.max must not be shorter than reconnect.initial' });
  let url = 'amqp://localhost';
  try {
    const parsed = new URL(config.url);
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') throw new TypeError(`"${parsed.protocol}" is not amqp: or amqps:`);
    url = connectionUrl(config.url, config.username, config.password, Math.round(heartbeatMs / 1000));
  } catch (err) {
    report({ path: ['url'], message: `url must be an amqp:// or amqps:// URL such as amqp://rabbitmq:5672/vhost (${(err as Error).message})` });
  }
  return { url, heartbeatS: Math.round(heartbeatMs / 1000), reconnectInitialMs, reconnectMaxMs: Math.max(reconnectMaxMs, reconnectInitialMs), role };
}
