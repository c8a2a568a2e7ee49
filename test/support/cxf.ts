/**
 * A real Apache CXF client of a hub's SOAP source: test/cxf/ is a small Maven project whose client classes
 * wsdl2java generates from the WSDL the hub serves. `cxfClient(wsdlText)` builds it once per WSDL, pom and client
 * source (cached in .cache/cxf/<hash>/, so a re-run starts Java at once), and `run` drives it with a list of cases,
 * one JVM for all of them. Undefined (with the reason) when Maven or Java is not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

const PROJECT = join(ROOT, 'test', 'cxf');
const CACHE = join(ROOT, '.cache', 'cxf');

/** One call of GetShippingQuote: the port (SOAP version) to call through, the request, extra HTTP headers. */
export interface CxfCase {
  name: string;
  version: '1.1' | '1.2';
  weightKg: string;
  from: string;
  to: string;
  headers?: Record<string, string>;
}

/** What the client saw: the reply, a SOAPFaultException's fault, or another WebServiceException. */
export interface CxfResult {
  name: string;
  /** The endpoint address CXF took from the WSDL. */
  address: string;
  ok: boolean;
  reply?: { carrier: string; amount: string; currency: string; days: number };
  fault?: { code: string; codeNamespace: string; subcodes: string[]; reason: string; detail: string | null };
  error?: { exception: string; message: string; cause: string | null };
  httpStatus: number | null;
}

export interface CxfClient {
  /** The build folder (classes and classpath.txt). */
  dir: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
  run(wsdlUrl: string, cases: CxfCase[]): Promise<CxfResult[]>;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** Why the CXF client cannot be built here, or undefined when Maven and Java are both on the PATH. */
export function cxfUnavailable(): string | undefined {
  for (const [tool, args] of [['mvn', ['-v']], ['java', ['-version']]] as const) {
    if (spawnSync(tool, [...args], { stdio: 'ignore' }).status !== 0) return `${tool} is not installed: the Apache CXF interop tests need Java 17+ and Maven`;
  }
  return undefined;
}

/**
 * The client generated from `wsdl` (the document the hub served; its soap:address locations are left out of the
 * cache key, since the client reads the live WSDL's at run time). Builds with Maven when not cached.
 */
export function cxfClient(wsdl: string): CxfClient {
  const hash = createHash('sha256');
  for (const file of [join(PROJECT, 'pom.xml'), join(PROJECT, 'bare.xjb'), ...files(join(PROJECT, 'src')).sort()]) hash.update(file.slice(PROJECT.length)).update(readFileSync(file));
  hash.update(wsdl.replace(/location="[^"]*"/g, 'location=""'));
  const dir = join(CACHE, hash.digest('hex').slice(0, 16));
  let built = false;
  if (!existsSync(join(dir, 'classpath.txt'))) {
    // Built in a folder of its own and moved in whole, so that a build cut short is never taken for a cached one.
    const work = `${dir}.building-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'hub.wsdl'), wsdl);
    const mvn = spawnSync('mvn', ['-B', '-q', `-Dhub.wsdl=${join(work, 'hub.wsdl')}`, `-Dcxf.build.dir=${work}`, 'package', 'dependency:build-classpath'], { cwd: PROJECT, encoding: 'utf8', timeout: 10 * 60_000 });
    if (mvn.status !== 0) throw new Error(`the CXF client did not build (mvn exited ${mvn.status}):\n${mvn.stdout}\n${mvn.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    built = true;
  }
  const classpath = `${join(dir, 'classes')}:${readFileSync(join(dir, 'classpath.txt'), 'utf8').trim()}`;
  return {
    dir,
    built,
    async run(wsdlUrl, cases) {
      const child = spawn('java', ['-cp', classpath, 'hub.cxf.Client', wsdlUrl], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const lines = cases.map((c) => [c.name, c.version, c.weightKg, c.from, c.to, Object.entries(c.headers ?? {}).map(([k, v]) => `${k}=${v}`).join(';')].join('\t'));
      child.stdin.end(`${lines.join('\n')}\n`);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as CxfResult);
      if (code !== 0 || results.length !== cases.length) throw new Error(`the CXF client exited ${code} after ${results.length} of ${cases.length} cases:\n${stdout}\n${stderr}`);
      return results;
    },
  };
}
