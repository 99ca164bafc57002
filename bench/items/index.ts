// The benchmark's items, in the order they run and print. A new item: its module here, one line.
import type { BenchItem } from '../item.ts';
import { burst } from './burst.ts';
import { capacity } from './capacity.ts';
import { fleet } from './fleet.ts';
import { keywords } from './keywords.ts';
import { metrics } from './metrics.ts';
import { offload } from './offload.ts';
import { pool } from './pool.ts';
import { resume } from './resume.ts';
import { simple } from './simple.ts';
import { telemetry } from './telemetry.ts';
import { vad } from './vad.ts';
import { whisper } from './whisper.ts';

export const ITEMS: readonly BenchItem[] = [vad, capacity, burst, telemetry, metrics, simple, whisper, keywords, offload, fleet, resume, pool];
