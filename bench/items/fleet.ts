// Item 9: a rolling restart of three instances behind HAProxy (skipped, with the reason, without
// haproxy or prometheus). The measurement is bench/fleet.ts.
import { runFleet, type FleetOptions, type FleetResults } from '../fleet.ts';
import type { BenchItem } from '../item.ts';
import { num, ratio } from '../table.ts';

type Plan = Omit<FleetOptions, 'onStep'>;

/** How much later an interim result around a move may come than elsewhere. */
const LAG_SLACK_S = 0.1;

export const fleet: BenchItem<Plan, FleetResults> = {
  id: 'fleet',
  title: '9 fleet: a rolling restart of three instances behind HAProxy under real-time streams',
  plan: ({ smoke }) =>
    smoke ? { streams: 3, audioSeconds: 10, restartAtS: [3], drainMs: 10_000 } : { streams: 12, audioSeconds: 40, restartAtS: [8, 18, 28], drainMs: 10_000 },
  steps: (plan) => 1 + plan.restartAtS.length,
  run: (plan, ctx) => runFleet({ ...plan, onStep: (label) => ctx.step(label) }),

  render(f) {
    const title = `9. Rolling restart: ${f.streams} real-time streams of ${f.audioSeconds} s (interim results) through HAProxy, three instances, restarted one at a time`;
    if (f.skipped !== null) return [{ title, headers: [], rows: [], notes: [`skipped: ${f.skipped}`] }];
    return [
      {
        title,
        headers: ['instance', 'told to go', 'moved', 'out of rotation ms', 'exited s', 'back UP s'],
        rows: f.restarts.map((r) => [r.name, String(r.notified), String(r.moved), num(r.outOfRotationMs, 0), num(r.drainedMs / 1000, 1), num(r.backUpMs / 1000, 1)]),
        notes: [
          'After SIGTERM: told to go = streams that got going_away; moved = moves to a new connection; out of rotation = DOWN on the stats',
          "socket; exited = the drained instance's process ended; back UP = the new one (same port) UP again. Streams never moved count too.",
          `${f.moves} moves in all; ${f.lost} stream(s) lost (no stream_end on the last connection, a move or resume that failed, or an error).`,
        ],
      },
      {
        title: '9b. Results of a moved stream: longest gap between consecutive results (segment events) around its move, and elsewhere',
        headers: ['gap', 'moves', 'p50 s', 'max s', 'vs baseline'],
        rows: [
          ['around a move', String(f.gaps.length), num(f.aroundMoveMedianS, 2), num(f.aroundMoveMaxS, 2), f.aroundMoveMaxS !== null && f.baselineMaxS ? ratio(f.aroundMoveMaxS / f.baselineMaxS) : '–'],
          ['same streams, without a move (baseline)', String(f.gaps.length), num(f.baselineMedianS, 2), num(f.baselineMaxS, 2), '1.00x'],
          [
            'lag of interim results around a move',
            String(f.gaps.filter((g) => g.aroundMoveLagS !== null).length),
            '',
            num(f.lagAroundMoveMaxS, 3),
            f.lagAroundMoveMaxS !== null && f.lagBaselineMaxS ? ratio(f.lagAroundMoveMaxS / f.lagBaselineMaxS) : '–',
          ],
          ['lag of interims, same streams, elsewhere (baseline)', String(f.gaps.length), '', num(f.lagBaselineMaxS, 3), '1.00x'],
        ],
        notes: [
          'Around a move: from the last result before going_away to the first result of the new connection (its events reach the',
          'caller once the old connection is closed). Baseline: the longest gap outside its moves, silences between sentences included.',
          "The new connection takes over from the old one's last committed point and is sent the audio from there again: a segment in",
          'progress is recomputed whole, not split; the lag of interim results (arrival − when the audio up to their end was sent) shows',
          'the lateness the replay adds (finals wait for 0.3 s of silence: their lag says nothing of a move).',
          `Audio sent again after a move: p50 ${num(f.replayedMedianS, 2)} s, max ${num(f.replayedMaxS, 2)} s.` +
            (f.movesWithoutResultAfter > 0 ? ` ${f.movesWithoutResultAfter} move(s) had no result after them (silence to the end).` : ''),
        ],
      },
    ];
  },

  targets(f) {
    const lagOk = f.lagAroundMoveMaxS !== null && f.lagBaselineMaxS !== null ? f.lagAroundMoveMaxS <= f.lagBaselineMaxS + LAG_SLACK_S : null;
    return [
      {
        item: 'fleet',
        target: `rolling restart: no stream lost; interim lag around a move ≤ elsewhere + ${LAG_SLACK_S} s`,
        measured: f.skipped !== null ? 'skipped' : `${f.lost} lost; lag ${num(f.lagAroundMoveMaxS, 3)} s vs ${num(f.lagBaselineMaxS, 3)} s`,
        met: f.skipped !== null || lagOk === null ? null : f.lost === 0 && lagOk,
      },
    ];
  },
};
