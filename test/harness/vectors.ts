// The spec's signing and canonical JSON vectors. A copy lives in
// test/fixtures so a clone tests on its own; when ../shared/vectors is beside
// the clone (the workplace layout), the copy must be identical to it.
import { existsSync, readFileSync } from 'node:fs';

const COPY = new URL('../fixtures/spec-vectors.json', import.meta.url);
const SHARED = new URL('../../../shared/vectors/spec-vectors.json', import.meta.url);

export const vectorsText = readFileSync(COPY, 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const vectors: any = JSON.parse(vectorsText);
export const sharedVectorsText: string | undefined = existsSync(SHARED) ? readFileSync(SHARED, 'utf8') : undefined;
