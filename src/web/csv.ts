// CSV for spreadsheets (RFC 4180 quoting). Cells that a spreadsheet would run as a formula are
// prefixed with ' (a name like "=HYPERLINK(...)" must stay text). The one implementation lives
// with the audit trail's export (src/activity/export.ts), which the API uses too.
export { csvCell, toCsv } from '../activity/export.js';
