// Item 5: throughput of the simple route with the model at zero cost, audio sent as fast as the
// server takes it, against the segmented route on the same server. The measurement is bench/simple.ts.
import type { BenchItem } from '../item.ts';
import { runSimple, type SimpleOptions, type SimpleResults } from '../simple.ts';
import { num, ratio } from '../table.ts';

export const simple: BenchItem<Omit<SimpleOptions, 'onStep'>, SimpleResults> = {
  id: 'simple',
  title: '5 simple: throughput of the simple route against the segmented one, model at zero cost',
  plan: ({ smoke }) => (smoke ? { streams: 2, perStreamS: 5, warmUp: false } : { streams: 4, perStreamS: 60, warmUp: true }),
  steps: () => 3,
  run: (plan, ctx) => runSimple({ ...plan, onStep: (label) => ctx.step(label) }),

  render(s) {
    const row = (name: string, r: SimpleResults['simple'], vs: string) => [
      name,
      String(r.streams),
      num(r.audioSeconds, 0),
      num(r.wallSeconds, 2),
      num(r.audioPerSecond, 0),
      num(r.serverCpuPerAudioSecond, 5),
      String(r.client.segments),
      vs,
    ];
    return [
      {
        title: '5. Throughput with model delays 0 (audio sent as fast as the server takes it)',
        headers: ['route', 'streams', 'audio s', 'wall s', 'audio-s/s', 'srv CPU-s/audio-s', 'segments', 'vs segmented'],
        rows: [row('simple', s.simple, ratio(s.ratio)), row('segmented (baseline)', s.segmented, '1.00x')],
      },
    ];
  },
  targets: () => [],
};
