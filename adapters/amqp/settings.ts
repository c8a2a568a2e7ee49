/** Connection settings from a source or sink config, checked once at load. */
import type { ConfigIssue } from '../../src/core/errors.js';
import { toMs } from '../../src/core/duration.js';
import type { ConnectionConfig } from './config.js';
import { DEFAULTS } from './config.js';
import { connectionUrl, type ConnectionSettings, type Role } from './connection.js';

export function connectionSettings(config: ConnectionConfig, role: Role, report: (issue: ConfigIssue) => void): ConnectionSettings {
  const ms = (value: string | number, path: string[], fallback: number): number => {
    try {
      return toMs(value);
    } catch (err) {
      report({ path, message: (err as Error).message });
      return fallback;
    }
  };
  const heartbeatMs = ms(config.heartbeat ?? DEFAULTS.heartbeat, ['heartbeat'], 30_000);
  const reconnectInitialMs = Math.max(1, ms(config.reconnect?.initial ?? DEFAULTS.reconnectInitial, ['reconnect', 'initial'], 200));
  const reconnectMaxMs = ms(config.reconnect?.max ?? DEFAULTS.reconnectMax, ['reconnect', 'max'], 15_000);
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
