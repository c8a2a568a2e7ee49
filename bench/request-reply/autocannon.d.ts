/** The part of autocannon's programmatic API the request-reply bench uses (the package ships no types). */
declare module 'autocannon' {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    pipelining?: number;
    /** Each request in turn; setupRequest may change it before it is sent. */
    requests?: { setupRequest?: (request: Request) => Request }[];
  }
  interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }
  interface Histogram {
    p50: number;
    p99: number;
    p99_9?: number;
    average: number;
  }
  interface Result {
    requests: { total: number; average: number };
    latency: Histogram;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
