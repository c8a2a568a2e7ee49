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

/** The start of a URL's authority: `scheme://`. */
const URL_START = /[A-Za-z][A-Za-z0-9+.-]*:\/\//g;

/** A password inside a URL (`scheme://user:password@host`), as written: environment references kept as they are. */
export interface UrlPassword {
  /** Where the password starts in the text. */
  index: number;
  password: string;
}

/**
 * The passwords of the URLs in a text: each `scheme://user:password@`. A `${...}` reference counts as one piece of
 * the user or the password, whatever it holds (`amqp://admin:${env:RABBIT_PASSWORD}@rabbit`).
 */
export function urlPasswords(text: string): UrlPassword[] {
  const out: UrlPassword[] = [];
  for (const m of text.matchAll(URL_START)) {
    let i = m.index + m[0].length;
    let colon = -1;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '$' && text[i + 1] === '{') {
        const end = text.indexOf('}', i);
        if (end === -1) break;
        i = end;
      } else if (c === ':' && colon === -1) colon = i;
      else if (c === '@') {
        if (colon !== -1) out.push({ index: colon + 1, password: text.slice(colon + 1, i) });
        break;
      } else if ('/?#'.includes(c) || /\s/.test(c)) break;
    }
  }
  return out;
}

/** Whether a text holds a URL with a password in it (`scheme://user:password@host`): a value that is a secret. */
export function hasUrlPassword(text: string): boolean {
  return urlPasswords(text).some((p) => p.password !== '');
}

export interface EnvProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Finds literal secrets: a string under a secret-named key that is not one whole environment reference; a
 * credential header without a reference; a URL whose password is not one whole environment reference.
 */
export function findLiteralSecrets(value: unknown, path: (string | number)[] = []): EnvProblem[] {
  const out: EnvProblem[] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...findLiteralSecrets(v, [...path, i])));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && isSecretKey(k) && (!SECRET_REF.test(v) || v.includes(':-'))) {
        out.push({ path: [...path, k], message: `"${k}" is a secret: write it as an environment reference like \${env:${k.toUpperCase()}}, never as a literal (nor as a reference's default)` });
      } else if (typeof v === 'string' && k !== 'description' && urlPasswords(v).some((p) => p.password !== '' && (!SECRET_REF.test(p.password) || p.password.includes(':-')))) {
        out.push({ path: [...path, k], message: `"${k}" holds a password inside a URL (scheme://user:password@host): take it from the environment, as in amqp://user:\${env:AMQP_PASSWORD}@host, or the whole URL as "\${env:${k.toUpperCase()}}"; never as a literal (nor as a reference's default)` });
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
