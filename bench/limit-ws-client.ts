// Child process of bench/limit.ts: a bare `ws` client that sends FRAMES binary messages of BYTES
// each to URL, as fast as the socket drains, then closes (the sender's CPU is this process's, apart
// from the receiving side measured there).
//   node bench/limit-ws-client.ts URL FRAMES BYTES
import WebSocket from 'ws';

const [url, frames, bytes] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const frame = new Uint8Array(bytes).fill(7);
const ws = new WebSocket(url);
ws.on('open', () => {
  let sent = 0;
  const burst = () => {
    // 50 frames at a time, the next 50 once these left the socket: bounded buffering.
    const until = Math.min(frames, sent + 50);
    for (; sent < until; sent++) ws.send(frame, { binary: true }, sent === until - 1 ? next : undefined);
  };
  const next = () => {
    if (sent < frames) burst();
  };
  burst();
});
ws.on('close', () => process.exit(0));
ws.on('error', (err) => {
  process.stderr.write(`limit ws client: ${err.message}\n`);
  process.exit(1);
});
