// npm run bench:report: regenerates bench/RESULTS.md from the records in bench/results/ (npm run bench does this
// itself after recording; this is for records merged from another branch).
import { RESULTS_DIR } from './lib/record.ts';
import { REPORT_FILE, writeReport } from './lib/report.ts';

writeReport(RESULTS_DIR, REPORT_FILE);
