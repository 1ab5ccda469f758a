/** Conformance cases against a simulator that breaks each, part 1 of 2 (helpers/conformance.ts). */
import { describe } from 'vitest';
import { brokenCaseTests } from './helpers/conformance.js';

describe('each conformance case fails against a receiver that breaks it (1/2)', () => brokenCaseTests(1, 2));
