// The REST source's problem+json lives in core, shared with the admin API.
export * from '../../src/kit/problem.js';
