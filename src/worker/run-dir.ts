/**
 * What rank 0 leaves in the run directory: metrics.jsonl (one JSON object per epoch and split),
 * the resolved job spec, and the final model under model/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface EpochRecord {
  epoch: number;
  split: 'train' | 'val';
  loss: number;
  accuracy: number;
  samplesPerSec: number;
}

export function appendMetrics(outDir: string, records: EpochRecord[]): void {
  fs.mkdirSync(outDir, { recursive: true });
  fs.appendFileSync(path.join(outDir, 'metrics.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
