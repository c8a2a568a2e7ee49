/**
 * Environment references in config values: `${env:NAME}` or `${env:NAME:-default}`. Secrets must appear only as
 * such references; other strings may use them too (a URL per environment).
 */
const REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
export const SECRET_REF = /^\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** Config keys whose values are secrets wherever they appear (besides schema properties marked "x-secret"). */
const SECRET_KEYS = /^(password|passwd|secret|client_secret|token|api_key|apikey|access_key|secret_key|private_key|passphrase)$/i;

/** Keys whose values carry a secret inside other text ("Bearer ${env:TOKEN}"): they must contain a reference. */
const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.test(key);
}

export interface EnvProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Finds literal secrets: a string under a secret-named key that is not one whole environment reference.
 */
export function findLiteralSecrets(value: unknown, path: (string | number)[] = []): EnvProblem[] {
  const out: EnvProblem[] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...findLiteralSecrets(v, [...path, i])));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && isSecretKey(k) && (!SECRET_REF.test(v) || v.includes(':-'))) {
        out.push({ path: [...path, k], message: `"${k}" is a secret: write it as an environment reference like \${env:${k.toUpperCase()}}, never as a literal (nor as a reference's default)` });
      } else if (typeof v === 'string' && CREDENTIAL_HEADERS.test(k) && !/\$\{env:/.test(v) && !/\{\{/.test(v)) {
        out.push({ path: [...path, k], message: `"${k}" carries a credential: take it from the environment (e.g. "Bearer \${env:API_TOKEN}") or from the message ({{ }}), never as a literal` });
      } else out.push(...findLiteralSecrets(v, [...path, k]));
    }
  }
  return out;
}

/**
 * Replaces every environment reference in the string values of a config tree. Unset variables without a default
 * are returned as problems (and replaced by an empty string).
 */
export function substituteEnv<T>(value: T, env: NodeJS.ProcessEnv = process.env, path: (string | number)[] = [], problems: EnvProblem[] = []): { value: T; problems: EnvProblem[] } {
  const walk = (v: unknown, p: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      return v.replace(REF, (_m, name: string, fallback: string | undefined) => {
        const got = env[name];
        if (got !== undefined) return got;
        if (fallback !== undefined) return fallback;
        problems.push({ path: p, message: `environment variable ${name} is not set` });
        return '';
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...p, i]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...p, k])]));
    return v;
  };
  return { value: walk(value, path) as T, problems };
}
