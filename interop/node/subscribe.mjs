// Minimal streamer subscriber in Node.js (zeromq.js 6, libzmq underneath: no Python involved).
// Prints every result as one JSON line on stdout.
//
//   node subscribe.mjs [--endpoint tcp://127.0.0.1:5556] [--stream NAME]... [--status]
//                      [--count N] [--timeout-ms MS]
//
// Messages are ZeroMQ multipart [topic, payload]: topic = stream name (UTF-8), payload = JSON.
// Status and event messages use the reserved topics "_status" and "_events"; both are skipped
// unless --status is given.
// Exit status: 0 ok (or --count reached), 1 a malformed message, 2 bad usage, 3 timed out.
import { Subscriber } from "zeromq";

const RESERVED = ["_status", "_events"];

function parseArgs(argv) {
  const opts = { endpoint: "tcp://127.0.0.1:5556", streams: [], status: false, count: 0, timeoutMs: -1 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--endpoint") opts.endpoint = value();
    else if (arg === "--stream") opts.streams.push(value());
    else if (arg === "--status") opts.status = true;
    else if (arg === "--count") opts.count = Number.parseInt(value(), 10);
    else if (arg === "--timeout-ms") opts.timeoutMs = Number.parseInt(value(), 10);
    else usage(`unknown argument ${arg}`);
  }
  return opts;
}

function usage(message) {
  console.error(`subscribe.mjs: ${message}`);
  process.exit(2);
}

function fail(message) {
  console.error(`subscribe.mjs: malformed message: ${message}`);
  process.exit(1);
}

const opts = parseArgs(process.argv.slice(2));
const sock = new Subscriber({ receiveTimeout: opts.timeoutMs });
sock.connect(opts.endpoint);
// ZeroMQ filters by topic prefix; subscribing to exact names would still let "cam1" match "cam10",
// so the exact topic is checked again below.
if (opts.streams.length === 0) sock.subscribe();
else for (const name of [...opts.streams, ...(opts.status ? RESERVED : [])]) sock.subscribe(name);

let seen = 0;
try {
  for await (const frames of sock) {
    if (frames.length !== 2) fail(`expected 2 frames [topic, payload], got ${frames.length}`);
    const topic = frames[0].toString("utf8");
    const reserved = RESERVED.includes(topic);
    if (reserved ? !opts.status : opts.streams.length > 0 && !opts.streams.includes(topic)) {
      continue;
    }
    let message;
    try {
      message = JSON.parse(frames[1].toString("utf8"));
    } catch (err) {
      fail(`payload on ${topic} is not JSON: ${err.message}`);
    }
    if (!reserved && message.stream !== topic) {
      fail(`topic ${topic} carries a result for stream ${message.stream}`);
    }
    process.stdout.write(`${JSON.stringify({ topic, message })}\n`);
    if (opts.count > 0 && ++seen >= opts.count) break;
  }
} catch (err) {
  if (err.code === "EAGAIN") {
    console.error(`subscribe.mjs: no message within ${opts.timeoutMs} ms`);
    process.exitCode = 3;
  } else {
    throw err;
  }
} finally {
  sock.close();
}
