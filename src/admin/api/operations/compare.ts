/**
 * The reports of `hub compare`, which the console's Comparison page draws.
 */
import { REPORT_NAME } from '../../../mesh/compare/report-folder.js';
import type { OperationSpec } from '../operation.js';
import { ref, problem } from '../schema-parts.js';

export const COMPARE_OPERATIONS: OperationSpec[] = [
  {
    method: 'GET',
    path: '/compare/reports',
    operationId: 'listCompareReports',
    role: 'viewer',
    summary: 'The reports of hub compare',
    description: 'Every run `hub compare` wrote under the hub\'s reports folder (compare.reports in hub.yaml, default .hub/compare; one folder per run with its report.json), newest first, at most 100. A folder without a readable report is left out. Read from disk on each request.',
    responses: { 200: { description: 'The reports, newest first.', schema: { type: 'object', required: ['reports'], properties: { reports: { type: 'array', items: ref('CompareReportSummary') } } } } },
  },
  {
    method: 'GET',
    path: '/compare/reports/:name',
    operationId: 'getCompareReport',
    role: 'viewer',
    summary: 'One report of hub compare',
    description: 'The whole report.json of the run: settings, per style, phase and flow the throughput, latency percentiles and errors, per process CPU and peak memory, and the blast radius. The console\'s Comparison page draws it.',
    params: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', pattern: REPORT_NAME, description: 'A report\'s folder name, from GET /compare/reports.' } } },
    responses: { 200: { description: 'The report.', schema: ref('CompareReport') }, 400: problem('Not a report name.'), 404: problem('No readable report of that name.') },
  },
];
