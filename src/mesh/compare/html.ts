import type { CompareReport } from './report.js';
export function renderHtml(report: CompareReport): string {
  return `<!doctype html><pre>${JSON.stringify(report)}</pre>`;
}
