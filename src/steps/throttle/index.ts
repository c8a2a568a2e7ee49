import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { StepLifecycle, StepRegistration, StepRuntime } from '../../core/contracts.js';
import { durationOption, durationSchema, type Duration } from '../../core/duration.js';
import { hubError, PermanentError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { describe, expressionAt, issueCounter, objectConfig, unusableStep } from '../shared.js';

export interface ThrottleConfig {
  rate: number;
  per?: Duration;
  key?: string;
  max_queue?: number;
}

/** The rate as the limiter counts it: `points` per window of `seconds` (rate-limiter-flexible's Redis store counts whole seconds). */
export function window(rate: number, perMs: number): { points: number; seconds: number } {
  if (perMs >= 1000) {
    const seconds = Math.round(perMs / 1000);
    return { points: Math.max(1, Math.round((rate * seconds * 1000) / perMs)), seconds };
  }
  return { points: Math.max(1, Math.round((rate * 1000) / perMs)), seconds: 1 };
}

/**
 * The throttle's limiter, made at start: shared through Redis when the hub's journal is on Redis (every replica
 * counts against one rate; while Redis is away each replica counts alone, in memory), else in this process's memory.
 */
class Limiter implements StepLifecycle {
  limiter: RateLimiterAbstract | undefined;
  #redis: Redis | undefined;

  constructor(readonly points: number, readonly seconds: number) {}

  async start(runtime: StepRuntime): Promise<void> {
    const memory = new RateLimiterMemory({ points: this.points, duration: this.seconds });
    if (!runtime.redisUrl) {
      this.limiter = memory;
      return;
    }
    // No offline queue: while Redis is away a count fails at once and the memory limiter answers (insuranceLimiter).
    this.#redis = new Redis(runtime.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    this.#redis.on('error', (err) => runtime.logger.debug({ err }, 'throttle: Redis connection error; counting in memory meanwhile'));
    await this.#redis.connect().catch((err: unknown) => runtime.logger.warn({ err }, 'throttle: Redis is not reachable; this replica counts its rate alone until it is'));
    this.limiter = new RateLimiterRedis({
      storeClient: this.#redis,
      keyPrefix: `hub:throttle:${runtime.flow}:${runtime.step}`,
      points: this.points,
      duration: this.seconds,
      insuranceLimiter: memory,
    });
  }

  async stop(): Promise<void> {
    this.#redis?.disconnect();
    this.#redis = undefined;
  }
}

const throttle: StepRegistration<ThrottleConfig> = {
  name: 'throttle',
  description: 'Throttle: lets at most `rate` messages per `per` go on (per flow, or per key), holding the others back rather than dropping them; shared by replicas through Redis when the journal is on Redis.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description:
      'A message over the rate waits here, in flight, so its source feels it: an AMQP consumer stops getting deliveries once its prefetch is held, a Kafka partition gets no next message, and an HTTP or SOAP caller waits. Once `max_queue` messages wait, the next fails with RATE_LIMITED (retryable: HTTP 429 with Retry-After; a broker delivers it again later).',
    additionalProperties: false,
    required: ['rate'],
    properties: {
      rate: { type: 'number', description: 'Messages let through per `per` (above 0).', examples: [100] },
      per: { ...durationSchema, default: '1s', description: 'The window the rate is counted in (whole seconds; shorter windows are counted per second).' },
      key: { type: 'string', minLength: 1, description: 'JSONata expression giving a key (a string or number): each key gets the rate of its own (a customer, a tenant). Without it, one rate for the flow.', examples: ['customerId'] },
      max_queue: { type: 'integer', minimum: 0, default: 1000, description: 'Messages held at most (in this process); past it a message fails with RATE_LIMITED.' },
    },
    examples: [{ rate: 50, per: '1s' }, { rate: 5, per: '1s', key: 'customerId', max_queue: 100 }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    if (typeof c.rate !== 'number' || !(c.rate > 0) || !Number.isFinite(c.rate)) issues.report({ path: ['rate'], message: `the rate must be a number above 0 (messages per \`per\`), got ${describe(c.rate)}: at 0 or below it would hold every message for ever` });
    const perMs = durationOption(c.per as Duration | undefined, '1s', ['per'], issues.report, 1);
    const key = expressionAt(c.key, ['key'], issues.report);
    const maxQueue = typeof c.max_queue === 'number' ? c.max_queue : 1000;
    if (issues.errors) return unusableStep('throttle');
    const { points, seconds } = window(c.rate as number, perMs);
    const limiter = new Limiter(points, seconds);
    let waiting = 0;

    const step = async (message: Message, run: { aborted: boolean; signal: AbortSignal }): Promise<Message[]> => {
      let k = 'flow';
      if (key) {
        const v = await key.evaluate(message);
        if ((typeof v !== 'string' && typeof v !== 'number') || v === '') throw new PermanentError('VALIDATION_FAILED', `the throttle key \`${key.source}\` gave ${describe(v)} for this message; it needs a string or a number`);
        k = String(v);
      }
      const rl = limiter.limiter!;
      let queued = false;
      try {
        for (;;) {
          let waitMs: number;
          try {
            await rl.consume(k, 1);
            return [message];
          } catch (res) {
            if (!(res instanceof RateLimiterRes)) throw res;
            waitMs = Math.max(5, res.msBeforeNext);
          }
          if (!queued) {
            if (waiting >= maxQueue) {
              throw hubError('RATE_LIMITED', `the throttle holds ${waiting} messages (max_queue) at ${c.rate} per ${perMs} ms; send again later`, { details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } });
            }
            queued = true;
            waiting++;
          }
          if (run.aborted) throw run.signal.reason;
          // Waiters spread over the next window a little, so that they do not all ask at its first millisecond.
          await new Promise((resolve) => setTimeout(resolve, waitMs + Math.floor(Math.random() * 20)));
        }
      } finally {
        if (queued) waiting--;
      }
    };
    return Object.assign(step, { lifecycle: limiter });
  },
};

export default throttle;
