/**
 * The gateway's side of the mesh: who checks a flow's callers and counts their rate on its inbound hop, and, where a
 * flow hands JWT checks to the mesh (`auth.jwt.owner: mesh`), the Istio RequestAuthentication (jwksUri, issuer,
 * audiences; the verified claims forwarded to the hub in x-jwt-payload) and an AuthorizationPolicy that refuses
 * the flow's path to a request without a valid token or a required scope.
 */
import type { IAuthorizationPolicy, IRequestAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import type { FlowDefinition } from '../config/load-flows.js';
import type { GatewayDefaults } from '../kit/gateway/guard.js';
import type { AuthBlock, GatewayConfig, JwtConfig, LimitConfig } from '../kit/gateway/schema.js';
import type { K8sObject } from './k8s-object.js';

export interface GatewayOwnership {
  /** Who checks callers: the hub, the mesh, or no one. */
  authentication: { owner: 'hub' | 'mesh' | 'none'; detail: string };
  rate_limiting: { owner: 'hub' | 'none'; detail: string };
}

/** The source's own blocks, else the hub's defaults (as the source itself decides at load). */
function blocksOf(flow: FlowDefinition, defaults?: GatewayDefaults): { auth: AuthBlock | undefined; rateLimit: GatewayConfig['rate_limit'] } {
  const config = (flow.source.config ?? {}) as GatewayConfig;
  const auth = config.auth ?? defaults?.auth;
  return { auth: auth && auth !== 'none' ? auth : undefined, rateLimit: config.rate_limit ?? defaults?.rate_limit };
}

/** The JWT block the mesh checks for this flow, if it hands them to the mesh. */
export function meshJwtOf(flow: FlowDefinition, defaults?: GatewayDefaults): JwtConfig | undefined {
  const jwt = blocksOf(flow, defaults).auth?.jwt;
  return jwt?.owner === 'mesh' ? jwt : undefined;
}

const limitText = (l: LimitConfig): string => `${l.rate}${l.burst ? ` burst ${l.burst}` : ''}`;

/** Who owns authentication and rate limiting on a flow's inbound hop (for `hub mesh lint`); undefined for a source not on HTTP. */
export function gatewayOwnershipOf(flow: FlowDefinition, defaults?: GatewayDefaults): GatewayOwnership | undefined {
  if (flow.service?.hops[0]?.transport !== 'http') return undefined;
  const { auth, rateLimit } = blocksOf(flow, defaults);
  const methods: string[] = [];
  if (auth?.api_key) methods.push(`api_key (${auth.api_key.query ? `query ${auth.api_key.query}` : `header ${auth.api_key.header ?? 'x-api-key'}`})`);
  if (auth?.basic) methods.push('basic');
  const jwt = auth?.jwt;
  if (jwt && jwt.owner !== 'mesh') methods.push(`jwt (${jwt.issuer}${jwt.scopes?.length ? `, scopes ${jwt.scopes.join(' ')}` : ''})`);
  const authentication: GatewayOwnership['authentication'] =
    jwt?.owner === 'mesh'
      ? { owner: 'mesh', detail: `RequestAuthentication ${jwt.issuer} + AuthorizationPolicy${methods.length ? `; the hub also checks ${methods.join(', ')}` : ''}; the hub reads the consumer from x-jwt-payload` }
      : methods.length
        ? { owner: 'hub', detail: methods.join(', ') }
        : { owner: 'none', detail: 'anyone may call' };
  const limits = [rateLimit?.consumer && `per consumer ${limitText(rateLimit.consumer)}`, rateLimit?.flow && `per flow ${limitText(rateLimit.flow)}`, rateLimit?.consumers && `${Object.keys(rateLimit.consumers).length} consumer(s) of their own`].filter(Boolean);
  const where = defaults?.redisUrl ? 'counted in Redis, shared by replicas' : 'counted in each process (set REDIS_URL to share between replicas)';
  const rate_limiting: GatewayOwnership['rate_limiting'] = limits.length ? { owner: 'hub', detail: `${limits.join(', ')}; ${where}` } : { owner: 'none', detail: auth ? 'only failed authentications per address' : 'no limit but the flow\'s concurrency' };
  return { authentication, rate_limiting };
}

/** The path Istio matches for a source path: a `:param` segment and what follows become a `*` suffix. */
function istioPath(path: string): string {
  const i = path.split('/').findIndex((seg) => seg.startsWith(':'));
  return i < 0 ? path : `${path.split('/').slice(0, i).join('/')}/*`;
}

/**
 * RequestAuthentication and AuthorizationPolicy for a flow whose JWT checks the mesh owns, on the workload
 * labelled `app` (the flow's own pods in mesh style, the hub's in hub style, where the policy covers only the
 * flow's path so the hub's other flows and its admin API are not touched).
 */
export function meshAuthObjects(flow: FlowDefinition, app: string, namespace: string | undefined, defaults?: GatewayDefaults): K8sObject[] {
  const jwt = meshJwtOf(flow, defaults);
  if (!jwt) return [];
  const path = (flow.source.config as { path?: string }).path;
  const metadata = (name: string): K8sObject['metadata'] & { labels: Record<string, string> } => ({ name, ...(namespace ? { namespace } : {}), labels: { app, 'app.kubernetes.io/part-of': 'integration-hub', 'integration-hub/flow': flow.name } });
  const selector = { matchLabels: { app } };
  const ra: IRequestAuthentication & K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: metadata(`${flow.name}-jwt`),
    spec: {
      selector,
      jwtRules: [{ issuer: jwt.issuer, jwksUri: jwt.jwks_url, ...(jwt.audiences ? { audiences: jwt.audiences } : {}), outputPayloadToHeader: 'x-jwt-payload', forwardOriginalToken: false }],
    },
  };
  // DENY rules: a request to the flow's path without a valid token's principal, or without a required scope.
  const to = path ? [{ operation: { paths: [istioPath(path)] } }] : undefined;
  const rules: NonNullable<NonNullable<IAuthorizationPolicy['spec']>['rules']> = [{ from: [{ source: { notRequestPrincipals: ['*'] } }], ...(to ? { to } : {}) }];
  for (const scope of jwt.scopes ?? []) rules.push({ ...(to ? { to } : {}), when: [{ key: 'request.auth.claims[scope]', notValues: [scope] }] });
  const ap: IAuthorizationPolicy & K8sObject = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: metadata(`${flow.name}-require-jwt`), spec: { selector, action: 'DENY', rules } };
  return [ra, ap];
}
